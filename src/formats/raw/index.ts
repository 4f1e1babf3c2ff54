/**
 * RAW: no header, no magic; the guest bytes are the file. Like qemu-img, anything no other reader claims is RAW
 * (preflight judges later whether it holds a disk at all).
 */
import { createMappedImage } from '../../image/create.js';
import type { DiskFormat, DiskImage, Extent } from '../../image/types.js';
import { Limits } from '../../limits.js';
import { ForwardSource } from '../../source/forward.js';
import type { ByteSource } from '../../source/types.js';

export const raw: DiskFormat = {
  name: 'raw',
  detect: () => true,
  async open(source) {
    if (source.size === undefined) return openUnsized(source);
    const size = source.size;
    return createMappedImage({
      format: 'raw',
      subformat: null,
      virtualSize: size,
      allocatedSize: size,
      details: {},
      source,
      map: async (offset) => ({ kind: 'data', length: size - offset, source, hostOffset: offset }),
    });
  },
};

/** A pipe of unknown length: the size is learnt by reading to the end, so only streaming works. */
function openUnsized(source: ByteSource): DiskImage {
  const image = createMappedImage({
    format: 'raw',
    subformat: null,
    virtualSize: 0,
    allocatedSize: undefined,
    details: {},
    source,
    map: async () => ({ kind: 'unallocated', length: 1 }),
    extents: () => streamToEnd(source as ForwardSource),
  });
  return { ...image, virtualSize: undefined };
}

/** One buffer, reused: an extent's data is valid until the iterator advances (DiskImage's contract). */
async function* streamToEnd(source: ForwardSource): AsyncGenerator<Extent> {
  const buffer = Buffer.allocUnsafe(Limits.dataChunk);
  for (let offset = 0; ; ) {
    const length = await source.readSomeInto(offset, buffer);
    if (length === 0) return;
    yield { offset, length, data: buffer.subarray(0, length) };
    offset += length;
  }
}
