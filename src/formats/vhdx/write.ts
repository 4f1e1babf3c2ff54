/**
 * VHDX output (MS-VHDX), in two subformats laid out as layout.ts describes:
 * - `dynamic` (the default): only blocks holding a non-zero byte are stored, appended in guest order as they come;
 *   the others are PAYLOAD_BLOCK_ZERO. Which blocks those are is known only at the end, so the BAT goes out as zeros
 *   first and is patched at the end: the output needs a seekable file.
 * - `fixed`: LeaveBlockAllocated, every block FULLY_PRESENT in guest order, so the BAT is known up front and the
 *   output streams (to a pipe or an upload). Zero runs still become holes in a file.
 * Virtual sizes round up to a whole 512-byte sector (the padding reads as zeros); VHDX holds at most 64 TiB.
 */
import { dataBlocks, dataAndHoles } from '../../image/blocks.js';
import type { DiskImage } from '../../image/types.js';
import { knownSize, type DiskWriter, type OutputPiece, type WriteOptions } from '../../image/writer.js';
import { rawWriter } from '../raw/write.js';
import { BatEntries, encodeHeaderSection, encodeMetadata, fixedBat, newWriteIds } from './encode.js';
import { planLayout, type VhdxLayout } from './layout.js';
import { BatState } from './structs.js';

export const vhdxWriter: DiskWriter = {
  format: 'vhdx',
  subformats: ['dynamic', 'fixed'],
  streamable: (subformat) => subformat === 'fixed',
  write: writeVhdx,
};

async function* writeVhdx(image: DiskImage, options: WriteOptions): AsyncGenerator<OutputPiece> {
  const layout = planLayout(knownSize(image, 'vhdx'), image.source.name);
  const fixed = options.subformat === 'fixed';
  const ids = newWriteIds();

  yield* region(encodeHeaderSection(layout, ids), layout.logOffset);
  yield { kind: 'zeros', length: layout.logLength }; // the empty log
  yield* region(encodeMetadata(layout, { leaveBlockAllocated: fixed, virtualDiskId: ids.virtualDiskId }), layout.metadataLength);

  if (fixed) yield* fixedPayload(image, options, layout);
  else yield* dynamicPayload(image, layout);
}

/** The BAT, then every guest byte in order (RAW's pieces: zero runs as holes), then zeros to the last block's end. */
async function* fixedPayload(image: DiskImage, options: WriteOptions, layout: VhdxLayout): AsyncGenerator<OutputPiece> {
  yield* region(fixedBat(layout), layout.batLength);
  let written = 0;
  for await (const piece of rawWriter.write(image, options)) {
    written += piece.kind === 'data' ? piece.data.length : piece.kind === 'zeros' ? piece.length : 0;
    yield piece;
  }
  yield { kind: 'zeros', length: layout.payloadBlocks * layout.blockSize - written };
}

/** A zeroed BAT region, the non-zero blocks one after another, then the filled-in BAT patched over the region. */
async function* dynamicPayload(image: DiskImage, layout: VhdxLayout): AsyncGenerator<OutputPiece> {
  yield { kind: 'zeros', length: layout.batLength };
  const bat = new BatEntries(layout, BatState.zero);
  let fileOffset = layout.dataOffset;
  for await (const block of dataBlocks(image, layout.blockSize)) {
    bat.place(block.index, fileOffset);
    yield* dataAndHoles(block.data);
    fileOffset += layout.blockSize;
  }
  yield { kind: 'patch', at: layout.batOffset, data: bat.bytes };
}

/** `used` bytes of a region, then zeros to its `length`. */
function* region(used: Uint8Array, length: number): Generator<OutputPiece> {
  yield { kind: 'data', data: used };
  yield { kind: 'zeros', length: length - used.length };
}
