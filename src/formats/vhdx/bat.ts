/**
 * The Block Allocation Table (MS-VHDX 2.5): one 64-bit entry per payload block, with a sector bitmap entry
 * after every ChunkRatio payload entries. The whole table is checked once at open (states and file offsets), so
 * map() afterwards only decodes.
 */
import type { Span } from '../../image/spans.js';
import { Limits } from '../../limits.js';
import type { ByteSource } from '../../source/types.js';
import { vhdxError } from './fail.js';
import { BAT_ENTRY_SIZE, BatState, Layout } from './structs.js';

const MiB = 1024 * 1024;
/** 2^23 sectors: what one 1 MiB sector bitmap block describes (2.5). */
const SECTORS_PER_BITMAP = 2 ** 23;
/** Longest run of blocks one map() call scans, so a random read never walks a whole huge table. */
const MAX_SCAN_BLOCKS = 1 << 18;

export interface Geometry {
  readonly virtualSize: number;
  readonly blockSize: number;
  readonly logicalSectorSize: number;
}

/** Chunk ratio, payload block count, and how many BAT entries reach the last payload block. */
export function batShape(geometry: Geometry): { chunkRatio: number; payloadBlocks: number; entries: number } {
  const chunkRatio = (SECTORS_PER_BITMAP * geometry.logicalSectorSize) / geometry.blockSize;
  const payloadBlocks = Math.ceil(geometry.virtualSize / geometry.blockSize);
  const entries = payloadBlocks === 0 ? 0 : payloadBlocks + Math.floor((payloadBlocks - 1) / chunkRatio);
  return { chunkRatio, payloadBlocks, entries };
}

export class BlockTable {
  readonly chunkRatio: number;
  readonly payloadBlocks: number;
  private readonly view: DataView;
  private readonly blockMiB: number;

  constructor(
    private readonly source: ByteSource,
    bytes: Uint8Array,
    private readonly geometry: Geometry,
    private readonly fileOffset: number,
  ) {
    const shape = batShape(geometry);
    this.chunkRatio = shape.chunkRatio;
    this.payloadBlocks = shape.payloadBlocks;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.blockMiB = geometry.blockSize / MiB;
  }

  private entryIndex(block: number): number {
    return block + Math.floor(block / this.chunkRatio);
  }

  private state(block: number): number {
    return this.view.getUint8(this.entryIndex(block) * BAT_ENTRY_SIZE) & 7;
  }

  /** FileOffsetMB (bits 20-63), as a number of MiB: exact, at most 2^44. */
  private offsetMiB(block: number): number {
    const at = this.entryIndex(block) * BAT_ENTRY_SIZE;
    return (this.view.getUint32(at, true) >>> 20) + this.view.getUint32(at + 4, true) * 4096;
  }

  /** Guest bytes of payload block `block` (the last one may be short). */
  private blockLength(block: number): number {
    return Math.min(this.geometry.blockSize, this.geometry.virtualSize - block * this.geometry.blockSize);
  }

  /**
   * Checks every payload entry: a state this reader knows for a disk without a parent, and data inside the file.
   * Returns the guest bytes backed by data and whether every block is FULLY_PRESENT.
   */
  validate(): { allocated: number; allPresent: boolean } {
    let allocated = 0;
    let allPresent = true;
    const size = this.source.size;
    for (let block = 0; block < this.payloadBlocks; block++) {
      const state = this.state(block);
      if (state === BatState.fullyPresent) {
        const offsetMiB = this.offsetMiB(block);
        const length = this.blockLength(block);
        const where = { at: this.fileOffset + this.entryIndex(block) * BAT_ENTRY_SIZE, field: `bat[${this.entryIndex(block)}]` };
        if (offsetMiB * MiB < Layout.headerSectionSize) {
          throw vhdxError(this.source, 'CORRUPT_DATA', `payload block ${block} points into the header section`, where.at, where.field);
        }
        const end = offsetMiB * MiB + length;
        if (end > (size ?? Limits.maxVirtualSize)) {
          throw vhdxError(this.source, 'OFFSET_OUT_OF_RANGE', `payload block ${block} at ${offsetMiB} MiB lies past the end of the ${size ?? 'input'}-byte file`, where.at, where.field);
        }
        allocated += length;
        continue;
      }
      allPresent = false;
      if (state === BatState.notPresent || state === BatState.undefined || state === BatState.zero || state === BatState.unmapped) continue;
      const index = this.entryIndex(block);
      const why = state === BatState.partiallyPresent ? 'PARTIALLY_PRESENT is only valid in a differencing disk' : `state ${state} is not defined`;
      throw vhdxError(this.source, 'BAD_HEADER', `payload block ${block}: ${why}`, this.fileOffset + index * BAT_ENTRY_SIZE, `bat[${index}]`);
    }
    return { allocated, allPresent };
  }

  /**
   * The span at a guest offset: a run of FULLY_PRESENT blocks contiguous in the file is one data span; a run of
   * ZERO blocks one zero span; a run of NOT_PRESENT / UNDEFINED / UNMAPPED blocks one unallocated span.
   */
  readonly map = async (offset: number): Promise<Span> => {
    const { blockSize } = this.geometry;
    const first = Math.floor(offset / blockSize);
    const within = offset - first * blockSize;
    const kind = this.kind(first);
    const last = Math.min(this.payloadBlocks, first + MAX_SCAN_BLOCKS);
    let end = first + 1;
    if (kind === 'data') {
      const start = this.offsetMiB(first);
      while (end < last && this.kind(end) === 'data' && this.offsetMiB(end) === start + (end - first) * this.blockMiB) end++;
      return { kind, length: (end - first) * blockSize - within, source: this.source, hostOffset: start * MiB + within };
    }
    while (end < last && this.kind(end) === kind) end++;
    return { kind, length: (end - first) * blockSize - within };
  };

  private kind(block: number): 'data' | 'zero' | 'unallocated' {
    const state = this.state(block);
    return state === BatState.fullyPresent ? 'data' : state === BatState.zero ? 'zero' : 'unallocated';
  }
}
