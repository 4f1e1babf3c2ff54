/**
 * monolithicSparse output: header, descriptor, the grain directory (reserved, patched in at the end), then the
 * grains uncompressed in guest order, each grain table right behind the grains it covers. Tables of all-zero
 * 32 MiB ranges are not written (directory entry 0: unallocated), so a sparse disk stays small. Not append-only (the
 * directory patch), so this subformat needs a seekable file.
 */
import { DiskError } from '../../errors.js';
import { dataBlocks, isZero } from '../../image/blocks.js';
import type { DiskImage } from '../../image/types.js';
import type { OutputPiece } from '../../image/writer.js';
import { SECTOR } from './structs.js';
import {
  DESCRIPTOR_END_SECTOR, GRAIN_BYTES, GRAIN_SECTORS, GT_BYTES, GTES_PER_GT, MAX_FILE_SECTORS, headerAndDescriptor,
  littleEndian, sectorPadded, type SparseLayout,
} from './layout.js';

/** Guest bytes taken at a time: a whole grain table's worth would be 32 MiB; 1 MiB keeps the buffer small. */
const BLOCK_BYTES = 1024 * 1024;

export async function* writeMonolithicSparse(image: DiskImage, layout: SparseLayout): AsyncGenerator<OutputPiece> {
  const directory = new Uint32Array(layout.gdEntries);
  const gdSectors = Math.ceil((layout.gdEntries * 4) / SECTOR);
  const overHead = Math.ceil((DESCRIPTOR_END_SECTOR + gdSectors) / GRAIN_SECTORS) * GRAIN_SECTORS;
  yield { kind: 'data', data: headerAndDescriptor(layout, BigInt(DESCRIPTOR_END_SECTOR), overHead) };
  yield { kind: 'zeros', length: (overHead - DESCRIPTOR_END_SECTOR) * SECTOR };

  let sector = overHead;
  const advance = (sectors: number) => {
    sector += sectors;
    if (sector > MAX_FILE_SECTORS) {
      throw new DiskError('LIMIT_EXCEEDED', 'the monolithicSparse file would pass 2 TiB, past what 32-bit grain-table entries can address', {
        format: 'vmdk',
      });
    }
  };
  let table = new Uint32Array(GTES_PER_GT);
  let tableIndex = -1;
  const flushTable = function* (): Generator<OutputPiece> {
    if (tableIndex < 0) return;
    yield { kind: 'data', data: littleEndian(table) };
    directory[tableIndex] = sector;
    advance(GT_BYTES / SECTOR);
    table = new Uint32Array(GTES_PER_GT);
    tableIndex = -1;
  };

  const capacityBytes = layout.capacity * SECTOR;
  for await (const block of dataBlocks(image, BLOCK_BYTES)) {
    const blockStart = block.index * BLOCK_BYTES;
    const index = Math.floor(blockStart / (GTES_PER_GT * GRAIN_BYTES));
    if (index !== tableIndex) {
      yield* flushTable();
      tableIndex = index;
    }
    for (let at = 0; at < BLOCK_BYTES && blockStart + at < capacityBytes; at += GRAIN_BYTES) {
      const grain = block.data.subarray(at, at + GRAIN_BYTES);
      if (isZero(grain)) continue;
      table[((blockStart + at) / GRAIN_BYTES) % GTES_PER_GT] = sector;
      yield { kind: 'data', data: grain };
      advance(GRAIN_SECTORS);
    }
  }
  yield* flushTable();
  yield { kind: 'patch', at: DESCRIPTOR_END_SECTOR * SECTOR, data: sectorPadded(littleEndian(directory)) };
}
