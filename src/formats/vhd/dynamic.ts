/**
 * Dynamic and differencing VHDs: the dynamic disk header, the block allocation table (BAT), the per-block sector
 * bitmaps, and the allocation map built from them (formats.md 2.3, 2.4).
 */
import { endianness } from 'node:os';
import { DiskError } from '../../errors.js';
import type { CompressedUnit, MapFunction, Span } from '../../image/spans.js';
import type { DiskImage } from '../../image/types.js';
import { Limits } from '../../limits.js';
import { checkRange, readChecked } from '../../source/check.js';
import type { ByteSource } from '../../source/types.js';
import type { Decoded } from '../../struct/index.js';
import { hex, vhdChecksum } from './footer.js';
import {
  BAT_UNUSED,
  DYNAMIC_HEADER,
  HEADER_COOKIE,
  HEADER_VERSION,
  MAX_BLOCK_SIZE,
  PARENT_LOCATOR,
  PARENT_LOCATOR_COUNT,
  PARENT_LOCATORS_AT,
  SECTOR,
} from './structs.js';

export type DynamicHeader = Decoded<typeof DYNAMIC_HEADER['fields']>;

export interface DynamicLayout {
  header: DynamicHeader;
  headerOffset: number;
  /** The raw header bytes (parent locators are decoded from them on demand). */
  headerBytes: Uint8Array;
  blockSize: number;
  /** Bytes of sector bitmap in front of each block's data. */
  bitmapSize: number;
  tableOffset: number;
  /** BAT entries (sector offsets of blocks), already byte-swapped. */
  bat: Uint32Array;
}

/** Converts a 64-bit offset field; anything past what a file can hold is past the end of this one. */
function offsetField(value: bigint, file: string, at: number, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DiskError('OFFSET_OUT_OF_RANGE', `${field} = 0x${value.toString(16)} lies past any file's end`, {
      file, format: 'vhd', offset: at, field,
    });
  }
  return Number(value);
}

/** Reads and checks the dynamic disk header at footer.dataOffset: cookie, checksum, version, block size. */
export async function readDynamicHeader(
  source: ByteSource,
  dataOffset: bigint,
  footerOffset: number,
): Promise<Pick<DynamicLayout, 'header' | 'headerOffset' | 'headerBytes' | 'blockSize' | 'bitmapSize'>> {
  const file = source.name;
  const headerOffset = offsetField(dataOffset, file, footerOffset + 0x10, 'footer.dataOffset');
  const headerBytes = await readChecked(source, headerOffset, DYNAMIC_HEADER.size, { format: 'vhd', field: 'footer.dataOffset' });
  const where = (field: keyof typeof DYNAMIC_HEADER['fields']) => ({
    file, format: 'vhd', offset: headerOffset, field: `dynamicHeader.${field}`,
  });
  if (Buffer.from(headerBytes.subarray(0, 8)).toString('latin1') !== HEADER_COOKIE) {
    throw new DiskError('BAD_MAGIC', `no "${HEADER_COOKIE}" cookie at the dynamic header`, where('cookie'));
  }
  const header = DYNAMIC_HEADER.decode(headerBytes);
  const expected = vhdChecksum(headerBytes, DYNAMIC_HEADER.offsetOf('checksum'));
  if (header.checksum !== expected) {
    throw new DiskError(
      'BAD_CHECKSUM',
      `dynamic header checksum is 0x${hex(header.checksum)}, the bytes sum to 0x${hex(expected)}`,
      where('checksum'),
    );
  }
  if (header.headerVersion !== HEADER_VERSION) {
    throw new DiskError('UNSUPPORTED_VERSION', `dynamic header version 0x${hex(header.headerVersion)}`, where('headerVersion'));
  }
  const blockSize = header.blockSize;
  if (blockSize < SECTOR || (blockSize & (blockSize - 1)) !== 0) {
    throw new DiskError('BAD_HEADER', `block size ${blockSize} is not a power of two of at least 512`, where('blockSize'));
  }
  if (blockSize > MAX_BLOCK_SIZE) {
    throw new DiskError('LIMIT_EXCEEDED', `block size ${blockSize} exceeds the maximum of ${MAX_BLOCK_SIZE}`, where('blockSize'));
  }
  // One bit per sector, the bitmap padded to whole sectors (spec; qemu computes 0 for blocks under 4 KiB).
  const bitmapSize = Math.ceil(blockSize / SECTOR / 8 / SECTOR) * SECTOR;
  return { header, headerOffset, headerBytes, blockSize, bitmapSize };
}

/** Reads the BAT after checking it covers the disk, fits the limit and the file, and that every block fits. */
export async function readBat(
  source: ByteSource,
  head: Pick<DynamicLayout, 'header' | 'headerOffset' | 'blockSize' | 'bitmapSize'>,
  virtualSize: number,
): Promise<{ bat: Uint32Array; tableOffset: number }> {
  const file = source.name;
  const { header, headerOffset, blockSize, bitmapSize } = head;
  const entries = header.maxTableEntries;
  const at = (field: string) => ({ file, format: 'vhd', offset: headerOffset, field: `dynamicHeader.${field}` });
  if (entries * blockSize < virtualSize) {
    throw new DiskError(
      'BAD_HEADER',
      `the BAT's ${entries} blocks of ${blockSize} bytes cover less than the ${virtualSize}-byte disk`,
      at('maxTableEntries'),
    );
  }
  const tableBytes = entries * 4;
  if (tableBytes > Limits.maxTableBytes) {
    throw new DiskError(
      'LIMIT_EXCEEDED',
      `a BAT of ${entries} entries (${tableBytes} bytes) exceeds the maximum of ${Limits.maxTableBytes} bytes`,
      at('maxTableEntries'),
    );
  }
  const tableOffset = offsetField(header.tableOffset, file, headerOffset + DYNAMIC_HEADER.offsetOf('tableOffset'), 'dynamicHeader.tableOffset');
  checkRange(source, tableOffset, tableBytes, { format: 'vhd', field: 'dynamicHeader.tableOffset', max: Limits.maxTableBytes });
  const raw = tableBytes === 0 ? new Uint8Array(0) : await source.read(tableOffset, tableBytes);
  const bat = bigEndianTable(raw, entries);

  const blockSpan = bitmapSize + blockSize;
  const headKept = Limits.forwardHeadKeep;
  let previousEnd = tableOffset + tableBytes;
  for (let i = 0; i < entries; i++) {
    const entry = bat[i]!;
    if (entry === BAT_UNUSED) continue;
    const start = entry * SECTOR;
    const where = { file, format: 'vhd', offset: tableOffset + i * 4, field: `bat[${i}]` };
    if (source.size !== undefined && start + blockSpan > source.size) {
      throw new DiskError(
        'OFFSET_OUT_OF_RANGE',
        `block ${i} at ${start} (${blockSpan} bytes with its bitmap) lies past the end of the ${source.size}-byte file`,
        where,
      );
    }
    // A pipe delivers bytes once: blocks must follow the BAT and each other in guest order (qemu writes them so).
    // Saying so now beats failing halfway through a stream.
    if (!source.seekable && start < previousEnd && start + blockSpan > headKept) {
      throw new DiskError(
        'BACKWARD_READ',
        `block ${i} at ${start} lies before data already passed (${previousEnd}); this VHD's blocks are not in guest order, so it cannot be streamed from a pipe`,
        where,
      );
    }
    previousEnd = Math.max(previousEnd, start + blockSpan);
  }
  return { bat, tableOffset };
}

export interface ParentLocator {
  platformCode: string;
  platformDataLength: number;
  platformDataOffset: string;
}

export function parentLocators(headerBytes: Uint8Array): ParentLocator[] {
  const out: ParentLocator[] = [];
  for (let i = 0; i < PARENT_LOCATOR_COUNT; i++) {
    const entry = PARENT_LOCATOR.decode(headerBytes, PARENT_LOCATORS_AT + i * PARENT_LOCATOR.size);
    if (entry.platformCode.every((byte) => byte === 0)) continue;
    out.push({
      platformCode: Buffer.from(entry.platformCode).toString('latin1'),
      platformDataLength: entry.platformDataLength,
      platformDataOffset: entry.platformDataOffset.toString(),
    });
  }
  return out;
}

interface Bitmap {
  bytes: Uint8Array;
  allOnes: boolean;
}

/** Bitmaps of the last few blocks touched: sequential reads need one, random reads a handful. */
const BITMAP_CACHE_ENTRIES = 8;

export interface MapContext {
  source: ByteSource;
  layout: DynamicLayout;
  virtualSize: number;
  /** Present for a differencing disk: where absent sectors come from. */
  parent: DiskImage | undefined;
}

/**
 * The BAT's big-endian entries as numbers. A byte copy and Buffer#swap32 (native) on a little-endian host, as every
 * Node platform is in practice: a DataView read per entry took ~10 ms for the million entries of a 2 TiB disk.
 */
function bigEndianTable(raw: Uint8Array, entries: number): Uint32Array {
  const table = new Uint32Array(entries);
  new Uint8Array(table.buffer).set(raw.subarray(0, entries * 4));
  if (endianness() === 'LE') Buffer.from(table.buffer).swap32();
  return table;
}

/**
 * Builds the allocation map: 'data' spans that follow the runs of set bitmap bits. On a pipe this reads in file
 * order too, since the engine finishes each data read before it maps the next offset (and so reads the next
 * block's bitmap).
 */
export function dynamicMap(context: MapContext): MapFunction {
  const { source, layout, virtualSize, parent } = context;
  const { bat, blockSize, bitmapSize } = layout;
  const blocksInDisk = Math.ceil(virtualSize / blockSize);
  const sectorsPerBlock = blockSize / SECTOR;
  const cache = new Map<number, Bitmap>();

  const bitmapOf = async (block: number, host: number): Promise<Bitmap> => {
    const cached = cache.get(block);
    if (cached !== undefined) return cached;
    const bytes = await source.read(host, bitmapSize);
    let allOnes = true;
    for (let i = 0; i < sectorsPerBlock >> 3 && allOnes; i++) allOnes = bytes[i] === 0xff;
    const partial = sectorsPerBlock & 7; // blocks under 4 KiB use only the top bits of one byte
    if (partial !== 0) {
      const mask = (0xff << (8 - partial)) & 0xff;
      allOnes &&= (bytes[sectorsPerBlock >> 3]! & mask) === mask;
    }
    const bitmap = { bytes, allOnes };
    if (cache.size >= BITMAP_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(block, bitmap);
    return bitmap;
  };

  const absent = (offset: number, length: number): Span =>
    parent === undefined ? { kind: 'unallocated', length } : parentSpan(parent, offset, length);

  return async (offset, wanted) => {
    const block = Math.floor(offset / blockSize);
    const entry = bat[block];
    if (entry === undefined || block >= blocksInDisk) return absent(offset, virtualSize - offset);
    if (entry === BAT_UNUSED) {
      // The run of unused entries, scanned no further than the caller needs: a small read of an empty 2 TiB disk
      // must not walk its million entries (inspect's probes took 46 ms doing so).
      const stop = Math.min(blocksInDisk, Math.ceil((offset + wanted) / blockSize));
      let end = block + 1;
      while (end < stop && bat[end] === BAT_UNUSED) end++;
      return absent(offset, end * blockSize - offset);
    }
    const host = entry * SECTOR;
    const inBlock = offset - block * blockSize;
    const bitmap = await bitmapOf(block, host);
    if (bitmap.allOnes) {
      return { kind: 'data', length: blockSize - inBlock, source, hostOffset: host + bitmapSize + inBlock };
    }
    const { set, end } = runAt(bitmap.bytes, Math.floor(inBlock / SECTOR), sectorsPerBlock);
    const length = end * SECTOR - inBlock;
    if (set) return { kind: 'data', length, source, hostOffset: host + bitmapSize + inBlock };
    return absent(offset, length);
  };
}

/** The run of equal bits starting at `sector` (MSB first within each byte), up to `limit`. */
function runAt(bitmap: Uint8Array, sector: number, limit: number): { set: boolean; end: number } {
  const bit = (s: number) => (bitmap[s >> 3]! & (0x80 >> (s & 7))) !== 0;
  const set = bit(sector);
  const whole = set ? 0xff : 0x00;
  let end = sector + 1;
  while (end < limit) {
    if ((end & 7) === 0 && end + 8 <= limit && bitmap[end >> 3] === whole) {
      end += 8;
      continue;
    }
    if (bit(end) !== set) break;
    end++;
  }
  return { set, end };
}

/**
 * Bytes a differencing disk takes from its parent. The parent is a DiskImage, not a ByteSource, so the run becomes a
 * unit whose load() reads through the parent; past the parent's end it reads zeros.
 */
function parentSpan(parent: DiskImage, offset: number, length: number): Span {
  const take = Math.min(length, Limits.dataChunk);
  const unit: CompressedUnit = { key: offset, guestOffset: offset, load: () => readParent(parent, offset, take) };
  return { kind: 'compressed', length: take, unit };
}

async function readParent(parent: DiskImage, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const available = Math.max(0, Math.min(length, (parent.virtualSize ?? 0) - offset));
  if (available > 0) out.set(await parent.read(offset, available));
  return out;
}
