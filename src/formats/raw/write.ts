/**
 * RAW output: the guest bytes themselves. Unallocated, declared-zero and all-zero runs go out as `zeros` pieces, so
 * a file sink leaves holes (a sparse file, like `qemu-img convert -O raw`) and a pipe gets real zeros.
 */
import { dataAndHoles } from '../../image/blocks.js';
import type { DiskImage } from '../../image/types.js';
import type { DiskWriter, OutputPiece } from '../../image/writer.js';

export const rawWriter: DiskWriter = {
  format: 'raw',
  subformats: ['raw'],
  streamable: () => true,
  write: writeRaw,
};

async function* writeRaw(image: DiskImage): AsyncGenerator<OutputPiece> {
  let position = 0;
  for await (const extent of image.extents()) {
    if (extent.offset > position) yield { kind: 'zeros', length: extent.offset - position };
    if (extent.data === undefined) yield { kind: 'zeros', length: extent.length };
    else yield* dataAndHoles(extent.data);
    position = extent.offset + extent.length;
  }
  // A pipe of unknown length ends where its data ends; a known size may end in unallocated space.
  if (image.virtualSize !== undefined && image.virtualSize > position) yield { kind: 'zeros', length: image.virtualSize - position };
}
