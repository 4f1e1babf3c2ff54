/**
 * qcow2 cluster mapping ("Cluster mapping" and "Extended L2 Entries" in qcow2.txt): the active L1 table is read and
 * checked at open; L2 tables are read when a guest offset needs them and kept in a small LRU cache. map() answers
 * with the longest run it can see inside one L2 table (contiguous host clusters, zero or unallocated runs), and
 * for an empty L1 entry with one span over every following empty L1 entry, so sparse disks cost next to nothing.
 */
import { DiskError, type ErrorCode } from '../../errors.js';
import type { CompressedUnit, Span } from '../../image/spans.js';
import { inflateUnit } from '../../image/inflate.js';
import { decompressZstdUnit } from '../../image/zstd.js';
import { Limits } from '../../limits.js';
import { readChecked } from '../../source/check.js';
import type { ByteSource } from '../../source/types.js';
import { ReadWindows } from '../../source/windows.js';
import { FORMAT, type Qcow2Layout } from './header.js';
import { ForwardReader } from './stream.js';
import { Entry, SUBCLUSTERS } from './structs.js';


/** L2 tables kept in memory (each one cluster: at most 2 MiB). */
const L2_CACHE_TABLES = 4;
/** Longest scans one map() call makes, so a random read in a huge table stays cheap (spans merge later anyway). */
const SCAN_L1_ENTRIES = 65536;
const SCAN_UNITS = 65536;
/** allocatedSize reads the L2 tables only when they total at most this. */
const ALLOCATED_SCAN_BYTES = 4 * 1024 * 1024;

/** What a unit of an L2 table holds (plain numbers: classify() runs in the hot scan loop). */
const Kind = { Unallocated: 0, Zero: 1, Data: 2, Compressed: 3, Invalid: 4 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

export class Qcow2Mapping {
  private readonly cache = new Map<number, Promise<DataView>>();
  private readonly clusterSize: number;
  /** Guest bytes one L2 table covers. */
  private readonly tableSpan: number;
  /** The unit map() walks in: a cluster, or a subcluster with extended L2 entries. */
  private readonly unitSize: number;
  private readonly unitsPerEntry: number;
  private readonly unitsPerTable: number;
  /** Scratch results of classify(), kept in fields so the hot scan loop allocates nothing. */
  private host = 0;
  private invalid: { code: ErrorCode; message: string; offset: number } | undefined;
  /** Compressed clusters are small and back to back: read them through shared windows. */
  private readonly compressedReads: ReadWindows;

  private constructor(
    private readonly layout: Qcow2Layout,
    /** Where table and data reads go (a ForwardReader over a pipe). */
    private readonly reader: ByteSource,
    /** File size when known: every offset taken from a table is checked against it. */
    private readonly fileSize: number | undefined,
    /** L2 table offset per L1 entry (0 = no table), checked at open. */
    private readonly l2Offsets: Float64Array,
  ) {
    this.compressedReads = new ReadWindows(reader);
    this.clusterSize = layout.clusterSize;
    this.tableSpan = layout.clusterSize * layout.l2Entries;
    this.unitsPerEntry = layout.extendedL2 ? SUBCLUSTERS : 1;
    this.unitSize = layout.clusterSize / this.unitsPerEntry;
    this.unitsPerTable = layout.l2Entries * this.unitsPerEntry;
  }

  /** Reads the active L1 table and checks every entry a guest offset can reach. */
  static async open(layout: Qcow2Layout, reader: ByteSource, fileSize: number | undefined): Promise<Qcow2Mapping> {
    const { l1Entries, l1Offset, clusterSize } = layout;
    const bytes = await readChecked(reader, l1Offset, l1Entries * 8, {
      format: FORMAT,
      field: 'header.l1_table_offset',
      max: Limits.maxTableBytes,
    });
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const l2Offsets = new Float64Array(l1Entries);
    for (let i = 0; i < l1Entries; i++) {
      const hi = view.getUint32(i * 8);
      const lo = view.getUint32(i * 8 + 4);
      const fail = (code: ErrorCode, message: string) =>
        new DiskError(code, `L1 entry ${i}: ${message}`, { file: reader.name, format: FORMAT, field: 'l1_entry', offset: l1Offset + i * 8 });
      if ((hi & Entry.l1HiReserved) !== 0 || (lo & Entry.l1LoReserved) !== 0) throw fail('CORRUPT_DATA', 'reserved bits are set');
      const offset = (hi & Entry.hiOffset) * 2 ** 32 + ((lo & Entry.loOffset) >>> 0);
      if (offset % clusterSize !== 0) throw fail('CORRUPT_DATA', `L2 table offset ${offset} is not cluster aligned`);
      if (offset !== 0 && fileSize !== undefined && offset + clusterSize > fileSize) {
        throw fail('OFFSET_OUT_OF_RANGE', `L2 table at ${offset} lies past the end of the ${fileSize}-byte file`);
      }
      l2Offsets[i] = offset;
    }
    return new Qcow2Mapping(layout, reader, fileSize, l2Offsets);
  }

  /** The span at a guest offset (see the module comment). */
  readonly map = async (offset: number): Promise<Span> => {
    const l1Index = Math.floor(offset / this.tableSpan);
    const l2Offset = this.l2Offsets[l1Index];
    if (l2Offset === undefined) {
      throw new DiskError('INTERNAL', `guest offset ${offset} lies past the L1 table`, { file: this.reader.name, format: FORMAT });
    }
    if (l2Offset === 0) return { kind: 'unallocated', length: this.emptyTablesEnd(l1Index + 1) - offset };

    const table = await this.table(l2Offset);
    const tableStart = l1Index * this.tableSpan;
    const first = Math.floor((offset - tableStart) / this.unitSize);
    const kind = this.classify(table, l2Offset, tableStart, first);
    if (kind === Kind.Invalid) throw this.invalidError();
    if (kind === Kind.Compressed) {
      const entry = Math.floor(first / this.unitsPerEntry);
      const clusterStart = tableStart + entry * this.clusterSize;
      const unit = this.compressedUnit(table, l2Offset, entry, clusterStart);
      return { kind: 'compressed', length: clusterStart + this.clusterSize - offset, unit };
    }

    const host = this.host;
    const unitsToDiskEnd = Math.ceil((this.layout.virtualSize - tableStart) / this.unitSize);
    const limit = Math.min(this.unitsPerTable, unitsToDiskEnd, first + SCAN_UNITS);
    let next = first + 1;
    while (next < limit) {
      if (this.classify(table, l2Offset, tableStart, next) !== kind) break;
      if (kind === Kind.Data && this.host !== host + (next - first) * this.unitSize) break;
      next++;
    }
    let end = tableStart + next * this.unitSize;
    if (kind === Kind.Unallocated && next === this.unitsPerTable) end = this.emptyTablesEnd(l1Index + 1);
    const length = end - offset;
    if (kind === Kind.Data) {
      const hostOffset = host + (offset - tableStart - first * this.unitSize);
      return { kind: 'data', length, source: this.reader, hostOffset };
    }
    return { kind: kind === Kind.Zero ? 'zero' : 'unallocated', length };
  };

  /** Guest offset where the run of L1 entries without an L2 table, starting at `from`, ends. */
  private emptyTablesEnd(from: number): number {
    let index = from;
    const limit = Math.min(this.l2Offsets.length, from + SCAN_L1_ENTRIES);
    while (index < limit && this.l2Offsets[index] === 0) index++;
    return index * this.tableSpan;
  }

  /**
   * What unit `unit` of an L2 table is. Sets `host` for data and `invalid` for a bad entry (the caller throws it
   * only when the entry is the one asked for; a scan just stops there).
   */
  private classify(table: DataView, l2Offset: number, tableStart: number, unit: number): Kind {
    const entry = this.unitsPerEntry === 1 ? unit : Math.floor(unit / SUBCLUSTERS);
    const at = entry * this.layout.entryBytes;
    const hi = table.getUint32(at);
    const lo = table.getUint32(at + 4);
    if ((hi & Entry.hiCompressed) !== 0) return Kind.Compressed;
    const where = l2Offset + at;
    const zeroFlag = (lo & Entry.loZero) !== 0;
    if ((hi & Entry.l2HiReserved) !== 0 || (lo & Entry.l2LoReserved) !== 0 || (zeroFlag && !this.hasZeroFlag())) {
      return this.bad('CORRUPT_DATA', `L2 entry ${entry}: reserved bits are set`, where);
    }
    const host = (hi & Entry.hiOffset) * 2 ** 32 + ((lo & Entry.loOffset) >>> 0);
    if (host % this.clusterSize !== 0) {
      return this.bad('CORRUPT_DATA', `L2 entry ${entry}: host offset ${host} is not cluster aligned`, where);
    }
    let sub = 0;
    if (this.unitsPerEntry === 1) {
      if (zeroFlag) return Kind.Zero;
      if (host === 0) return Kind.Unallocated;
    } else {
      const zeroBits = table.getUint32(at + 8);
      const allocBits = table.getUint32(at + 12);
      if ((zeroBits & allocBits) !== 0) {
        return this.bad('CORRUPT_DATA', `L2 entry ${entry}: subclusters both allocated and zero`, where);
      }
      if (host === 0 && allocBits !== 0) {
        return this.bad('CORRUPT_DATA', `L2 entry ${entry}: allocated subclusters without a host cluster`, where);
      }
      sub = unit % SUBCLUSTERS;
      if (((allocBits >>> sub) & 1) === 0) return ((zeroBits >>> sub) & 1) === 1 ? Kind.Zero : Kind.Unallocated;
    }
    // Only the part of the cluster inside the disk has to exist (qemu may end the file there).
    const guestStart = tableStart + entry * this.clusterSize;
    const needed = Math.min(this.clusterSize, this.layout.virtualSize - guestStart);
    if (this.fileSize !== undefined && host + needed > this.fileSize) {
      return this.bad('OFFSET_OUT_OF_RANGE', `L2 entry ${entry}: data cluster at ${host} lies past the end of the file`, where);
    }
    this.host = host + sub * this.unitSize;
    return Kind.Data;
  }

  /** The reads-as-zero flag (bit 0) exists in version 3 without extended L2 entries only. */
  private hasZeroFlag(): boolean {
    return this.layout.version === 3 && !this.layout.extendedL2;
  }

  private bad(code: ErrorCode, message: string, offset: number): Kind {
    this.invalid = { code, message, offset };
    return Kind.Invalid;
  }

  private invalidError(): DiskError {
    const { code, message, offset } = this.invalid!;
    return new DiskError(code, message, { file: this.reader.name, format: FORMAT, field: 'l2_entry', offset });
  }

  /** "Compressed Clusters Descriptor": x = 62 - (cluster_bits - 8) bits of host offset, then additional sectors. */
  private compressedUnit(table: DataView, l2Offset: number, entry: number, clusterStart: number): CompressedUnit {
    const at = entry * this.layout.entryBytes;
    const descriptor = (BigInt(table.getUint32(at) & 0x3fffffff) << 32n) | BigInt(table.getUint32(at + 4));
    const offsetBits = BigInt(62 - (this.layout.clusterBits - 8));
    const hostBig = descriptor & ((1n << offsetBits) - 1n);
    const sectors = Number(descriptor >> offsetBits);
    const fail = (code: ErrorCode, message: string) =>
      new DiskError(code, `L2 entry ${entry}: ${message}`, { file: this.reader.name, format: FORMAT, field: 'l2_entry', offset: l2Offset + at });
    if (hostBig >= 1n << 56n) throw fail('CORRUPT_DATA', 'compressed cluster offset has reserved bits set');
    const host = Number(hostBig);
    if (this.fileSize !== undefined && host >= this.fileSize) {
      throw fail('OFFSET_OUT_OF_RANGE', `compressed cluster at ${host} lies past the end of the ${this.fileSize}-byte file`);
    }
    // The data runs to the end of its last sector, which may be the file's end (and hold the next cluster's start).
    let length = (sectors + 1) * 512 - (host % 512);
    if (this.fileSize !== undefined) length = Math.min(length, this.fileSize - host);
    return {
      key: clusterStart / this.clusterSize,
      guestOffset: clusterStart,
      load: () => this.decompress(host, length, fail),
    };
  }

  private async decompress(host: number, length: number, fail: (code: ErrorCode, message: string) => DiskError) {
    const compressed =
      this.fileSize === undefined && this.reader instanceof ForwardReader
        ? await this.reader.readUpTo(host, length)
        : await this.compressedReads.read(host, length);
    const failure = (reason: string) => fail('CORRUPT_DATA', `compressed cluster at ${host} does not decompress (${reason})`);
    // Lenient, like qemu: a deflate stream that yields a whole cluster is accepted even without its end marker.
    const out =
      this.layout.compression === 'zstd'
        ? decompressZstdUnit(compressed, { unitBytes: this.clusterSize, fail: failure })
        : await inflateUnit(compressed, { wrapper: 'raw', unitBytes: this.clusterSize, lenient: true, fail: failure });
    if (out.length !== this.clusterSize) {
      throw fail('CORRUPT_DATA', `compressed cluster at ${host} inflates to ${out.length} bytes, not ${this.clusterSize}`);
    }
    return out;
  }

  /** One L2 table, through the LRU cache (concurrent callers share one read). */
  private table(l2Offset: number): Promise<DataView> {
    const hit = this.cache.get(l2Offset);
    if (hit !== undefined) {
      this.cache.delete(l2Offset);
      this.cache.set(l2Offset, hit);
      return hit;
    }
    const loading = this.reader.read(l2Offset, this.clusterSize).then(viewOf);
    loading.catch(() => {
      if (this.cache.get(l2Offset) === loading) this.cache.delete(l2Offset);
    });
    this.remember(l2Offset, loading);
    return loading;
  }

  private remember(l2Offset: number, table: Promise<DataView>): void {
    this.cache.set(l2Offset, table);
    for (const key of this.cache.keys()) {
      if (this.cache.size <= L2_CACHE_TABLES) break;
      this.cache.delete(key);
    }
  }

  /**
   * Guest bytes backed by allocated (standard or compressed) clusters, counted from the L2 tables when they total
   * at most 4 MiB; undefined otherwise, or on a pipe when the tables lie past the start it keeps for re-reading.
   */
  async allocatedSize(seekable: boolean): Promise<number | undefined> {
    // Counted per L1 reference, not per distinct table, so a table listed many times cannot multiply the work.
    const tables = new Map<number, number[]>();
    let references = 0;
    for (let index = 0; index < this.l2Offsets.length; index++) {
      const offset = this.l2Offsets[index]!;
      if (offset === 0) continue;
      if (++references * this.clusterSize > ALLOCATED_SCAN_BYTES) return undefined;
      const users = tables.get(offset);
      if (users === undefined) tables.set(offset, [index]);
      else users.push(index);
    }
    const offsets = [...tables.keys()].sort((a, b) => a - b);
    if (!seekable && offsets.some((offset) => offset + this.clusterSize > Limits.forwardHeadKeep)) return undefined;
    let total = 0;
    const loaded: [number, DataView][] = [];
    for (const offset of offsets) {
      const table = viewOf(await this.reader.read(offset, this.clusterSize));
      for (const index of tables.get(offset)!) {
        total += this.allocatedIn(table, index);
        loaded.push([index, table]);
      }
    }
    // Keep the tables the first guest reads will need.
    loaded.sort((a, b) => a[0] - b[0]);
    for (const [index, table] of loaded.slice(0, L2_CACHE_TABLES).reverse()) {
      this.remember(this.l2Offsets[index]!, Promise.resolve(table));
    }
    return total;
  }

  private allocatedIn(table: DataView, l1Index: number): number {
    const { virtualSize, entryBytes, l2Entries } = this.layout;
    let total = 0;
    for (let entry = 0; entry < l2Entries; entry++) {
      const guestStart = l1Index * this.tableSpan + entry * this.clusterSize;
      if (guestStart >= virtualSize) break;
      const covered = Math.min(this.clusterSize, virtualSize - guestStart);
      const hi = table.getUint32(entry * entryBytes);
      const lo = table.getUint32(entry * entryBytes + 4);
      const host = (hi & Entry.hiOffset) * 2 ** 32 + ((lo & Entry.loOffset) >>> 0);
      if ((hi & Entry.hiCompressed) !== 0) {
        total += covered;
      } else if (this.unitsPerEntry === 1) {
        if (host !== 0 && !((lo & Entry.loZero) !== 0 && this.hasZeroFlag())) total += covered;
      } else if (host !== 0) {
        const allocBits = table.getUint32(entry * entryBytes + 12);
        for (let sub = 0; sub < SUBCLUSTERS; sub++) {
          const subStart = guestStart + sub * this.unitSize;
          if (((allocBits >>> sub) & 1) === 1 && subStart < virtualSize) {
            total += Math.min(this.unitSize, virtualSize - subStart);
          }
        }
      }
    }
    return total;
  }
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
