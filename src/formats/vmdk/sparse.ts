/**
 * A hosted sparse extent (KDMV): header (and the streamOptimized footer), grain directory read at open, grain
 * tables read lazily through a small cache, and the allocation map built from them (formats.md 1.2, 1.5, 1.6).
 */
import { DiskError, type ErrorCode } from '../../errors.js';
import type { Span } from '../../image/spans.js';
import { inflateUnit } from '../../image/inflate.js';
import { Limits } from '../../limits.js';
import { checkRange, readChecked } from '../../source/check.js';
import type { ByteSource } from '../../source/types.js';
import {
  COMPRESSION_DEFLATE,
  COWD_MAGIC,
  Flags,
  GD_AT_END,
  GrainMarker,
  MarkerType,
  MetadataMarker,
  NEWLINE_TEST,
  SECTOR,
  SPARSE_MAGIC,
  SparseExtentHeader,
} from './structs.js';


/**
 * Largest grain accepted: one grain is inflated whole and handed out as one piece, so it must fit a data chunk
 * (VMware and qemu write 64 KiB grains).
 */
export const MAX_GRAIN_BYTES = Limits.dataChunk;
/** VMware always writes 512 entries per grain table; qemu refuses more, and so do we. */
export const MAX_GTES_PER_GT = 512;
/** Grain tables read in one go when they lie back to back in the file (qemu and VMware place them so). */
const TABLE_BATCH_BYTES = 256 * 1024;
const MAX_SECTOR_NUMBER = Math.floor(Number.MAX_SAFE_INTEGER / SECTOR);
const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export interface SparseHeader {
  readonly version: number;
  readonly flags: number;
  /** Extent size in sectors. */
  readonly capacity: number;
  readonly grainSectors: number;
  readonly descriptorOffset: number;
  readonly descriptorSize: number;
  readonly gtesPerGT: number;
  /** Sector of the grain directory; undefined when it is only known from a footer we could not read (a pipe). */
  readonly gdOffset: number | undefined;
  /** True when the header said GD_AT_END and the directory location came from the footer. */
  readonly gdFromFooter: boolean;
  readonly overHead: number;
  readonly compressed: boolean;
  readonly markers: boolean;
  readonly zeroGrains: boolean;
}

type Fail = (code: ErrorCode, message: string, offset: number, field: string) => never;

function failer(source: ByteSource): Fail {
  return (code, message, offset, field) => {
    throw new DiskError(code, message, { file: source.name, format: 'vmdk', offset, field });
  };
}

/** Reads and checks the 512-byte header (and, for GD_AT_END on a random-access source, the footer). */
export async function readSparseHeader(source: ByteSource): Promise<SparseHeader> {
  const fail = failer(source);
  if (source.size !== undefined && source.size < SECTOR) {
    fail('TRUNCATED', `the ${source.size}-byte file is shorter than a sparse extent header`, 0, 'header');
  }
  const bytes = await source.read(0, SECTOR);
  const magic = bytes.subarray(0, 4);
  if (equal(magic, COWD_MAGIC)) {
    fail('UNSUPPORTED_FEATURE', 'ESX vmfsSparse (COWD) extents are not supported; convert the disk on ESXi first', 0, 'header.magic');
  }
  if (!equal(magic, SPARSE_MAGIC)) fail('BAD_MAGIC', 'not a VMDK sparse extent (no KDMV signature)', 0, 'header.magic');
  const raw = SparseExtentHeader.decode(bytes);
  if (raw.version < 1 || raw.version > 3) {
    fail('UNSUPPORTED_VERSION', `sparse extent version ${raw.version} (1 to 3 are known)`, 4, 'header.version');
  }
  if ((raw.flags & Flags.validNewlineTest) !== 0 && !equal(raw.newlineTest, NEWLINE_TEST)) {
    fail(
      'BAD_HEADER',
      'the newline-detection bytes are altered: the file was mangled by a text-mode transfer (copy it again in binary mode)',
      SparseExtentHeader.offsetOf('newlineTest'),
      'header.newlineTest',
    );
  }
  const compressedFlag = (raw.flags & Flags.compressedGrains) !== 0;
  if (raw.compressAlgorithm > COMPRESSION_DEFLATE || (compressedFlag && raw.compressAlgorithm !== COMPRESSION_DEFLATE)) {
    fail(
      'UNSUPPORTED_FEATURE',
      `grain compression algorithm ${raw.compressAlgorithm} (only deflate, 1, is defined)`,
      SparseExtentHeader.offsetOf('compressAlgorithm'),
      'header.compressAlgorithm',
    );
  }
  const capacity = sectorCount(raw.capacity, Limits.maxVirtualSize / SECTOR, fail, 'capacity');
  const grainField = SparseExtentHeader.offsetOf('grainSize');
  if (raw.grainSize > BigInt(MAX_GRAIN_BYTES / SECTOR)) {
    fail('LIMIT_EXCEEDED', `grain of ${raw.grainSize} sectors exceeds the maximum of ${MAX_GRAIN_BYTES} bytes`, grainField, 'header.grainSize');
  }
  const grainSectors = Number(raw.grainSize);
  if (grainSectors === 0 || (grainSectors & (grainSectors - 1)) !== 0) {
    fail('BAD_HEADER', `grain size ${grainSectors} sectors is not a power of two`, grainField, 'header.grainSize');
  }
  const gtesField = SparseExtentHeader.offsetOf('numGTEsPerGT');
  if (raw.numGTEsPerGT === 0) fail('BAD_HEADER', 'grain tables of 0 entries', gtesField, 'header.numGTEsPerGT');
  if (raw.numGTEsPerGT > MAX_GTES_PER_GT) {
    fail('LIMIT_EXCEEDED', `${raw.numGTEsPerGT} entries per grain table exceeds ${MAX_GTES_PER_GT}`, gtesField, 'header.numGTEsPerGT');
  }
  const overHead = sectorOffset(raw.overHead, source, fail, SparseExtentHeader.offsetOf('overHead'), 'header.overHead', {
    endOk: true,
    code: 'TRUNCATED',
  });
  const header = {
    version: raw.version,
    flags: raw.flags,
    capacity,
    grainSectors,
    descriptorOffset: sectorOffset(raw.descriptorOffset, source, fail, SparseExtentHeader.offsetOf('descriptorOffset'), 'header.descriptorOffset'),
    descriptorSize: sectorCount(raw.descriptorSize, Limits.maxDescriptorBytes / SECTOR, fail, 'descriptorSize'),
    gtesPerGT: raw.numGTEsPerGT,
    overHead,
    compressed: compressedFlag || raw.compressAlgorithm === COMPRESSION_DEFLATE,
    markers: (raw.flags & Flags.markers) !== 0,
    zeroGrains: (raw.flags & Flags.zeroedGrainGte) !== 0,
  };
  const gdField = SparseExtentHeader.offsetOf('gdOffset');
  if (raw.gdOffset !== GD_AT_END) {
    return { ...header, gdOffset: sectorOffset(raw.gdOffset, source, fail, gdField, 'header.gdOffset'), gdFromFooter: false };
  }
  if (!source.seekable || source.size === undefined) return { ...header, gdOffset: undefined, gdFromFooter: true };
  return { ...header, gdOffset: await readFooter(source, header, fail), gdFromFooter: true };
}

/**
 * The streamOptimized footer: a footer marker, a copy of the header carrying the real gdOffset, and the
 * end-of-stream marker, in the file's last three sectors (formats.md 1.6).
 */
async function readFooter(
  source: ByteSource,
  header: { capacity: number; grainSectors: number; gtesPerGT: number },
  fail: Fail,
): Promise<number> {
  const size = source.size!;
  if (size < 4 * SECTOR) fail('TRUNCATED', 'the header says GD_AT_END but the file is too short for a footer', 0, 'header.gdOffset');
  const at = size - 3 * SECTOR;
  const bytes = await readChecked(source, at, 3 * SECTOR, { format: 'vmdk', field: 'footer' });
  const marker = MetadataMarker.decode(bytes, 0);
  if (marker.size !== 0 || marker.type !== MarkerType.footer) {
    fail('BAD_MAGIC', 'the header says GD_AT_END but no footer marker precedes the last two sectors', at, 'footerMarker.type');
  }
  if (!equal(bytes.subarray(SECTOR, SECTOR + 4), SPARSE_MAGIC)) {
    fail('BAD_MAGIC', 'the footer lacks the KDMV signature', at + SECTOR, 'footer.magic');
  }
  const eos = MetadataMarker.decode(bytes, 2 * SECTOR);
  if (eos.numSectors !== 0n || eos.size !== 0 || eos.type !== MarkerType.endOfStream) {
    fail('BAD_MAGIC', 'the last sector is not an end-of-stream marker', at + 2 * SECTOR, 'eosMarker.type');
  }
  const footer = SparseExtentHeader.decode(bytes, SECTOR);
  if (
    footer.capacity !== BigInt(header.capacity) ||
    footer.grainSize !== BigInt(header.grainSectors) ||
    footer.numGTEsPerGT !== header.gtesPerGT
  ) {
    fail('BAD_HEADER', 'the footer disagrees with the header on capacity, grain size or grain table size', at + SECTOR, 'footer');
  }
  if (footer.gdOffset === GD_AT_END) fail('BAD_HEADER', 'the footer also says GD_AT_END', at + SECTOR + SparseExtentHeader.offsetOf('gdOffset'), 'footer.gdOffset');
  return sectorOffset(footer.gdOffset, source, fail, at + SECTOR + SparseExtentHeader.offsetOf('gdOffset'), 'footer.gdOffset');
}

export interface SparseExtentOptions {
  /** Index of the extent in the image, to keep compressed-unit cache keys unique. */
  index: number;
  /** Guest offset of the extent's first byte in the whole disk. */
  guestStart: number;
}

/** Allocation of one sparse extent. Offsets given to it are relative to the extent's start. */
export class SparseExtent {
  readonly grainBytes: number;
  readonly capacityBytes: number;
  readonly grainCount: number;
  private readonly gtBytes: number;
  private readonly gtSectors: number;
  private readonly batchTables: number;
  private readonly cacheTables: number;
  private gd: Uint32Array | undefined;
  private readonly cache = new Map<number, Uint32Array>();
  /** Grain tables kept for good after a full read (allocatedSize), when they were small enough. */
  private pinned: Map<number, Uint32Array> | undefined;
  private readonly fail: Fail;

  constructor(
    readonly source: ByteSource,
    readonly header: SparseHeader,
    private readonly options: SparseExtentOptions,
  ) {
    this.fail = failer(source);
    this.grainBytes = header.grainSectors * SECTOR;
    this.capacityBytes = header.capacity * SECTOR;
    this.grainCount = Math.ceil(header.capacity / header.grainSectors);
    this.gtBytes = header.gtesPerGT * 4;
    this.gtSectors = Math.ceil(this.gtBytes / SECTOR);
    this.batchTables = Math.max(1, Math.floor(TABLE_BATCH_BYTES / (this.gtSectors * SECTOR)));
    this.cacheTables = Math.max(8, 2 * this.batchTables);
  }

  /** True once the grain directory is loaded: map() works. */
  get hasMap(): boolean {
    return this.gd !== undefined;
  }

  /** Reads the grain directory (bounded by Limits.maxTableBytes and the file size). */
  async loadDirectory(): Promise<void> {
    const { header } = this;
    const entries = Math.ceil(this.grainCount / header.gtesPerGT);
    if (entries === 0) {
      this.gd = new Uint32Array(0);
      return;
    }
    if (header.gdOffset === undefined) {
      throw new DiskError('NOT_SEEKABLE', 'the grain directory is at the end of the stream; random reads need a file', {
        file: this.source.name,
        format: 'vmdk',
      });
    }
    const field = header.gdFromFooter ? 'footer.gdOffset' : 'header.gdOffset';
    if (header.gdOffset === 0) this.fail('BAD_HEADER', 'no grain directory (gdOffset is 0)', SparseExtentHeader.offsetOf('gdOffset'), field);
    const bytes = await readChecked(this.source, header.gdOffset * SECTOR, entries * 4, {
      format: 'vmdk',
      field,
      max: Limits.maxTableBytes,
    });
    this.gd = u32le(bytes, 0, entries);
  }

  /** The raw grain table entry of a grain (0 when its whole table is absent). */
  async entry(grain: number): Promise<number> {
    const table = await this.table(Math.floor(grain / this.header.gtesPerGT));
    return table === undefined ? 0 : table[grain % this.header.gtesPerGT]!;
  }

  /** What lies at `offset` (relative to the extent), up to the extent's end at most. */
  async map(offset: number, wanted = Infinity): Promise<Span> {
    const { header, grainBytes } = this;
    const grain = Math.floor(offset / grainBytes);
    const value = await this.entry(grain);
    const grainStart = grain * grainBytes;
    if (value === 0 || (value === 1 && header.zeroGrains)) {
      // Unallocated (or zeroed) grains come in long runs on a sparse disk: report the whole run at once.
      const end = await this.runOf(grain + 1, value, Math.ceil((offset + wanted) / grainBytes));
      return { kind: value === 0 ? 'unallocated' : 'zero', length: Math.min(end * grainBytes, this.capacityBytes) - offset };
    }
    if (header.compressed) {
      const unitEnd = Math.min(grainStart + grainBytes, this.capacityBytes);
      return {
        kind: 'compressed',
        length: unitEnd - offset,
        unit: {
          key: this.options.index * 2 ** 32 + value,
          guestOffset: this.options.guestStart + grainStart,
          load: () => this.loadCompressed(grain, value),
        },
      };
    }
    // Grains whose host sectors follow one another make one data span.
    const gtes = header.gtesPerGT;
    const table = (await this.table(Math.floor(grain / gtes)))!;
    let slot = (grain % gtes) + 1;
    let next = value + header.grainSectors;
    while (slot < gtes && table[slot] === next) {
      slot++;
      next += header.grainSectors;
    }
    const end = Math.min(grainStart + (slot - (grain % gtes)) * grainBytes, this.capacityBytes);
    const hostStart = value * SECTOR;
    checkRange(this.source, hostStart, end - grainStart, {
      format: 'vmdk',
      field: `grain table entry for grain ${grain}`,
      max: Number.MAX_SAFE_INTEGER,
    });
    return { kind: 'data', length: end - offset, source: this.source, hostOffset: hostStart + (offset - grainStart) };
  }

  /** True when no grain in [from, to) (extent-relative bytes) holds data. */
  async holdsNoData(from: number, to: number): Promise<boolean> {
    for (let at = from; at < to; ) {
      const span = await this.map(at);
      if (span.kind === 'data' || span.kind === 'compressed') return false;
      at += span.length;
    }
    return true;
  }

  /**
   * Reads every grain table when all of them together are at most `budget` bytes, keeps them, and returns the
   * allocated bytes; returns undefined (reading nothing) when they are larger.
   */
  async allocatedBytes(budget: { bytes: number }): Promise<number | undefined> {
    const gd = this.gd;
    if (gd === undefined) return undefined;
    const present: number[] = [];
    for (let i = 0; i < gd.length; i++) if (gd[i] !== 0) present.push(i);
    const need = present.length * this.gtBytes;
    if (need > budget.bytes) return undefined;
    budget.bytes -= need;
    // In file order, so a forward-only source is read forwards.
    present.sort((a, b) => gd[a]! - gd[b]!);
    const pinned = new Map<number, Uint32Array>();
    for (const index of present) pinned.set(index, (await this.table(index))!);
    this.pinned = pinned;
    let grains = 0;
    let lastAllocated = false;
    const last = this.grainCount - 1;
    for (const [index, table] of pinned) {
      for (let slot = 0; slot < table.length; slot++) {
        const value = table[slot]!;
        if (value === 0 || (value === 1 && this.header.zeroGrains)) continue;
        const grain = index * this.header.gtesPerGT + slot;
        if (grain > last) break;
        grains++;
        if (grain === last) lastAllocated = true;
      }
    }
    const shortTail = this.grainCount * this.grainBytes - this.capacityBytes;
    return grains * this.grainBytes - (lastAllocated ? shortTail : 0);
  }

  /** First grain at or after `grain` whose entry is not `value` (0: unallocated, 1: zeroed), or grainCount. */
  private async runOf(grain: number, value: number, stopAt: number): Promise<number> {
    const gtes = this.header.gtesPerGT;
    const gd = this.gd!;
    while (grain < this.grainCount) {
      if (grain >= stopAt) return grain;
      const index = Math.floor(grain / gtes);
      if (gd[index] === 0 && value !== 0) return grain;
      const table = gd[index] === 0 ? undefined : await this.table(index);
      if (table === undefined) {
        grain = (index + 1) * gtes;
        continue;
      }
      let slot = grain % gtes;
      while (slot < gtes && table[slot] === value) slot++;
      if (slot < gtes) return Math.min(index * gtes + slot, this.grainCount);
      grain = (index + 1) * gtes;
    }
    return this.grainCount;
  }

  /** A grain table by index, through the cache; reads a batch of back-to-back tables at once. */
  private async table(index: number): Promise<Uint32Array | undefined> {
    const gd = this.gd;
    if (gd === undefined) {
      throw new DiskError('NOT_SEEKABLE', 'the grain directory was not read; random reads need a file', {
        file: this.source.name,
        format: 'vmdk',
      });
    }
    const pinned = this.pinned?.get(index);
    if (pinned !== undefined) return pinned;
    const cached = this.cache.get(index);
    if (cached !== undefined) {
      this.cache.delete(index);
      this.cache.set(index, cached);
      return cached;
    }
    if (index >= gd.length) return undefined;
    const first = gd[index]!;
    if (first === 0) return undefined;
    const stride = this.gtSectors * SECTOR;
    let count = 1;
    while (
      count < this.batchTables &&
      index + count < gd.length &&
      gd[index + count] === first + count * this.gtSectors &&
      !this.cache.has(index + count)
    ) {
      count++;
    }
    if (this.source.size !== undefined) {
      // Keep the batch inside the file; a table that is itself out of range is reported on its own.
      const room = Math.floor((this.source.size - first * SECTOR - this.gtBytes) / stride) + 1;
      count = Math.max(1, Math.min(count, room));
    }
    const bytes = await readChecked(this.source, first * SECTOR, (count - 1) * stride + this.gtBytes, {
      format: 'vmdk',
      field: `grain directory entry ${index}`,
      max: Limits.maxTableBytes,
    });
    for (let k = 0; k < count; k++) {
      this.cache.set(index + k, u32le(bytes, k * stride, this.header.gtesPerGT));
    }
    while (this.cache.size > this.cacheTables) this.cache.delete(this.cache.keys().next().value!);
    return this.cache.get(index) ?? u32le(bytes, 0, this.header.gtesPerGT);
  }

  /** Loads one compressed grain through the grain table (random access). */
  private async loadCompressed(grain: number, sector: number): Promise<Uint8Array> {
    const position = sector * SECTOR;
    const limit = 2 * this.grainBytes;
    const field = `grain table entry for grain ${grain}`;
    let data: Uint8Array;
    if (!this.header.markers) {
      // Without markers the zlib stream starts at the grain sector and its length is not recorded.
      const size = this.source.size;
      const length = size === undefined ? limit : Math.min(limit, size - position);
      checkRange(this.source, position, Math.max(1, length), { format: 'vmdk', field, max: limit });
      data = await this.source.read(position, length);
    } else {
      const size = this.source.size ?? Number.MAX_SAFE_INTEGER;
      checkRange(this.source, position, GrainMarker.size, { format: 'vmdk', field });
      const first = await this.source.read(position, Math.min(SECTOR, size - position));
      const marker = GrainMarker.decode(first);
      if (marker.size === 0) {
        this.fail('CORRUPT_DATA', `grain ${grain} points at a metadata marker, not a grain`, position, 'grainMarker.size');
      }
      if (marker.size > limit) {
        this.fail('CORRUPT_DATA', `grain marker claims ${marker.size} compressed bytes for a ${this.grainBytes}-byte grain`, position, 'grainMarker.size');
      }
      if (marker.lba !== BigInt(grain * this.header.grainSectors)) {
        this.fail('CORRUPT_DATA', `grain marker says sector ${marker.lba}, the grain table says ${grain * this.header.grainSectors}`, position, 'grainMarker.lba');
      }
      const total = GrainMarker.size + marker.size;
      checkRange(this.source, position, total, { format: 'vmdk', field, max: limit + GrainMarker.size });
      data =
        total <= first.length
          ? first.subarray(GrainMarker.size, total)
          : concat(first.subarray(GrainMarker.size), await this.source.read(position + first.length, total - first.length));
    }
    const bytes = await this.inflateGrain(data, grain, position);
    if (bytes.length === this.grainBytes) return bytes;
    const full = new Uint8Array(this.grainBytes);
    full.set(bytes);
    return full;
  }

  /**
   * Inflates one grain (zlib, RFC 1950). Exactly a grain's bytes, except that the disk's last grain may stop at
   * the disk's end when the capacity is not a whole number of grains.
   */
  async inflateGrain(compressed: Uint8Array, grain: number, position: number): Promise<Uint8Array> {
    const needed = Math.min(this.grainBytes, this.capacityBytes - grain * this.grainBytes);
    const out = await inflateUnit(compressed, {
      wrapper: 'zlib',
      unitBytes: this.grainBytes,
      fail: (reason) => this.fail('CORRUPT_DATA', `grain ${grain} does not inflate: ${reason}`, position, 'grain data'),
    });
    if (out.length < needed) {
      this.fail('CORRUPT_DATA', `grain ${grain} inflates to ${out.length} bytes, not ${this.grainBytes}`, position, 'grain data');
    }
    return out;
  }
}

/** A sector count from a u64 header field, bounded by `max` sectors. */
function sectorCount(value: bigint, max: number, fail: Fail, field: keyof typeof SparseExtentHeader.fields): number {
  if (value > BigInt(max)) {
    fail('LIMIT_EXCEEDED', `header.${field} = ${value} sectors exceeds the maximum of ${max}`, SparseExtentHeader.offsetOf(field), `header.${field}`);
  }
  return Number(value);
}

/**
 * A sector offset from a u64 field that must lie inside the file: a structure starts before the end, while
 * overHead (where grains begin) may equal it. Past the end is OFFSET_OUT_OF_RANGE, or `code` where given.
 */
function sectorOffset(
  value: bigint,
  source: ByteSource,
  fail: Fail,
  at: number,
  field: string,
  options: { endOk?: boolean; code?: ErrorCode } = {},
): number {
  const size = source.size;
  const limit = size === undefined ? MAX_SECTOR_NUMBER : Math.floor(size / SECTOR) - (options.endOk ? 0 : 1);
  if (value !== 0n && value > BigInt(Math.max(limit, 0))) {
    const where = size === undefined ? '' : ` of the ${size}-byte file`;
    fail(options.code ?? 'OFFSET_OUT_OF_RANGE', `${field} = sector ${value} lies past the end${where}`, at, field);
  }
  return Number(value);
}

/** Little-endian u32 entries; a view when the bytes are aligned on a little-endian host, else a copy. */
export function u32le(bytes: Uint8Array, at: number, count: number): Uint32Array {
  const start = bytes.byteOffset + at;
  if (HOST_LITTLE_ENDIAN && start % 4 === 0) return new Uint32Array(bytes.buffer, start, count);
  const out = new Uint32Array(count);
  const view = new DataView(bytes.buffer, start, count * 4);
  for (let i = 0; i < count; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
