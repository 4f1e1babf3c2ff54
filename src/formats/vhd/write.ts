/**
 * VHD output (qemu's "vpc"), fixed or dynamic, sized exactly as the source (layout.ts says how and why).
 *
 * - `dynamic` (the default, as in qemu-img): footer copy, dynamic header, BAT, then only the 2 MiB blocks that hold
 *   data, appended as they come, then the footer. The BAT is only known at the end, so it is written as a patch:
 *   a seekable file, not a pipe. (No one-pass layout avoids that: the header at the start must point at the BAT,
 *   and the BAT must say which blocks exist before the reader meets them.)
 * - `fixed`: the guest bytes as they are, then the footer: append-only, so it streams to a pipe or an upload, and
 *   a file sink turns the zero runs into holes. It even takes a RAW pipe of unknown length.
 */
import { DiskError } from '../../errors.js';
import { dataBlocks, dataAndHoles } from '../../image/blocks.js';
import type { DiskImage } from '../../image/types.js';
import { knownSize, type DiskWriter, type OutputPiece, type WriteOptions } from '../../image/writer.js';
import { rawWriter } from '../raw/write.js';
import {
  BITMAP_SIZE,
  BLOCK_SIZE,
  dynamicLayout,
  encodeDynamicHeader,
  encodeFooter,
  newIdentity,
  tooLarge,
  vhdDiskSize,
} from './layout.js';
import { DiskType, SECTOR, SPEC_MAX_SIZE } from './structs.js';

export const vhdWriter: DiskWriter = {
  format: 'vhd',
  subformats: ['dynamic', 'fixed'],
  streamable: (subformat) => subformat === 'fixed',
  write: (image, options) => {
    if (options.subformat === 'dynamic') return writeDynamic(image);
    if (options.subformat === 'fixed') return writeFixed(image, options);
    throw new DiskError('USAGE', `vhd has no subformat ${JSON.stringify(options.subformat)}: use dynamic or fixed`);
  },
};

/** Every sector of a written block is present in this file (a sector bitmap of all ones, as qemu writes). */
const FULL_BITMAP = new Uint8Array(BITMAP_SIZE).fill(0xff);

async function* writeDynamic(image: DiskImage): AsyncGenerator<OutputPiece> {
  const diskSize = vhdDiskSize(knownSize(image, 'vhd'), image.source.name);
  const layout = dynamicLayout(diskSize);
  const identity = newIdentity();
  const footer = encodeFooter({ diskType: DiskType.dynamic, diskSize, headerOffset: layout.headerOffset, identity });
  yield { kind: 'data', data: footer };
  yield { kind: 'data', data: encodeDynamicHeader(layout) };
  yield { kind: 'zeros', length: layout.tableBytes }; // the BAT's place, patched at the end

  // The BAT as it will be written: every entry (and the sector padding) unused until its block is appended.
  const table = Buffer.alloc(layout.tableBytes, 0xff);
  let blockOffset = layout.firstBlockOffset;
  for await (const block of dataBlocks(image, BLOCK_SIZE)) {
    table.writeUInt32BE(blockOffset / SECTOR, block.index * 4);
    yield { kind: 'data', data: FULL_BITMAP };
    yield* dataAndHoles(block.data);
    blockOffset += BITMAP_SIZE + BLOCK_SIZE;
  }
  yield { kind: 'data', data: footer }; // the same bytes at both ends: VM Import rejects differing copies
  yield { kind: 'patch', at: layout.tableOffset, data: table };
}

async function* writeFixed(image: DiskImage, options: WriteOptions): AsyncGenerator<OutputPiece> {
  const file = image.source.name;
  if (image.virtualSize !== undefined) vhdDiskSize(image.virtualSize, file); // refuse before writing anything
  let length = 0;
  for await (const piece of rawWriter.write(image, options)) {
    length += piece.kind === 'zeros' ? piece.length : piece.data.length; // RAW is append-only: no patches
    // A pipe's size is only known as it goes.
    if (length > SPEC_MAX_SIZE) throw tooLarge(`over ${length} bytes`, file);
    yield piece;
  }
  if (length === 0) {
    // The footer alone would sit at offset 0, where qemu looks for a dynamic disk's copy, and fail to open it.
    const message = 'the disk is empty, and an empty fixed VHD is only a footer that qemu cannot open: write a dynamic VHD';
    throw new DiskError('UNSUPPORTED_FEATURE', message, { file });
  }
  const diskSize = vhdDiskSize(length, file);
  if (diskSize > length) yield { kind: 'zeros', length: diskSize - length };
  const identity = newIdentity();
  yield { kind: 'data', data: encodeFooter({ diskType: DiskType.fixed, diskSize, headerOffset: undefined, identity }) };
}
