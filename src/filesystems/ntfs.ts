/**
 * Windows hints from an NTFS volume: whether its root holds a \Windows folder (with System32 in it), the boot
 * manager and the page and hibernation files, so inspect can tell a Windows system volume from a data one. Reads
 * the boot sector, MFT records 0 and 5 (the MFT's own map and the root directory), the root's index and, when
 * there is one, the \Windows folder's record and index: a few dozen KiB on a real volume. Layout facts from the
 * NTFS documentation (boot sector, FILE records with update sequence fixups, attributes, data runs, $I30 index
 * B+ trees of $FILE_NAME keys in $INDEX_ROOT and "INDX" blocks of $INDEX_ALLOCATION).
 *
 * The volume is untrusted. Every cluster is checked against the volume, every size and count against NtfsLimits,
 * and the index walk visits each block once, so loops end; garbage gives null (or, past the root, false for what
 * could not be read). Only the image's own DiskErrors (a read it refuses) escape. Not read: $ATTRIBUTE_LIST
 * (a directory whose attributes overflow its base record, rare for the root and \Windows), and the $BITMAP of
 * index blocks (the walk follows the tree from its root, so free blocks are never reached).
 */
import type { DiskImage } from '../image/types.js';
import { VolumeReader, detectFilesystem } from './detect.js';
import {
  NTFS_ATTRIBUTE,
  NTFS_BOOT,
  NTFS_FILE_NAME,
  NTFS_INDEX_BLOCK,
  NTFS_INDEX_ENTRY,
  NTFS_INDEX_HEADER,
  NTFS_INDEX_ROOT,
  NTFS_NON_RESIDENT,
  NTFS_RECORD,
  NTFS_RESIDENT,
} from './structs.js';

export interface WindowsHints {
  /** The root holds a directory named Windows (any case). */
  windowsFolder: boolean;
  /** The root holds a file named bootmgr (the Vista+ boot manager). */
  bootmgr: boolean;
  /** \Windows holds a directory named System32. */
  system32: boolean;
  /** The root holds pagefile.sys. */
  pagefile: boolean;
  /** The root holds hiberfil.sys. */
  hiberfil: boolean;
}

/** Bounds on what one call reads, so hostile sizes, runs and index trees cannot make it allocate or loop. */
export const NtfsLimits = {
  /** Windows writes 1 KiB records (4 KiB on 4Kn disks). */
  maxRecordBytes: 4096,
  /** Windows writes 4 KiB index blocks; the format allows larger. */
  maxIndexBlockBytes: 64 * 1024,
  /** Index entries read from one directory, end entries included. A Windows root holds a few dozen. */
  maxDirectoryEntries: 4096,
  /** Index bytes read from one directory: 256 blocks of 4 KiB. */
  maxDirectoryBytes: 1024 * 1024,
  /** Data runs decoded from one attribute. */
  maxDataRuns: 64,
  /** Attributes looked at in one record (a 4 KiB record holds at most ~170 of the smallest). */
  maxAttributes: 256,
  /** Clusters of up to 2 MiB (sectors per cluster given as a power of two, Windows 10 1709+). */
  maxClusterBytes: 2 * 1024 * 1024,
} as const;

/**
 * The hints for the NTFS volume in [start, start + size). Null when the range is no NTFS volume, or its root
 * directory (MFT record 5 and its index) cannot be read.
 */
export async function windowsHints(image: DiskImage, start: number, size: number): Promise<WindowsHints | null> {
  if ((await detectFilesystem(image, start, size))?.type !== 'ntfs') return null;
  const volume = new VolumeReader(image, start, size);
  const boot = await volume.read(0, NTFS_BOOT.size);
  if (boot === null) return null;
  const geometry = ntfsGeometry(NTFS_BOOT.decode(boot));
  if (geometry === null) return null;
  const ntfs = await NtfsVolume.open(volume, geometry);
  const root = await ntfs.directory(ROOT_RECORD, null);
  if (root === null) return null;

  const find = (name: string, directory: boolean) =>
    root.find((e) => e.directory === directory && foldCase(e.name) === name);
  const windows = find('WINDOWS', true);
  let system32 = false;
  if (windows !== undefined) {
    const inside = await ntfs.directory(windows.record, windows.sequence);
    system32 = inside?.some((e) => e.directory && foldCase(e.name) === 'SYSTEM32') ?? false;
  }
  return {
    windowsFolder: windows !== undefined,
    bootmgr: find('BOOTMGR', false) !== undefined,
    system32,
    pagefile: find('PAGEFILE.SYS', false) !== undefined,
    hiberfil: find('HIBERFIL.SYS', false) !== undefined,
  };
}

// ---- geometry -------------------------------------------------------------------------------------------

const MFT_RECORD = 0;
const ROOT_RECORD = 5;
/** Update sequence fixups protect every 512 bytes of a record or index block, whatever the sector size. */
const FIXUP_STRIDE = 512;

interface NtfsGeometry {
  clusterBytes: number;
  clusterCount: number;
  mftCluster: number;
  recordBytes: number;
}

/** The geometry the boot sector gives, or null when its values cannot describe a volume. */
function ntfsGeometry(boot: ReturnType<typeof NTFS_BOOT.decode>): NtfsGeometry | null {
  // detect.ts has checked bytesPerSector (a power of two, 256..4096).
  const spc = boot.sectorsPerCluster;
  const sectors = spc <= 0x80 ? spc : spc >= 0xf4 ? 2 ** (256 - spc) : 0;
  if (sectors === 0 || (sectors & (sectors - 1)) !== 0) return null;
  const clusterBytes = sectors * boot.bytesPerSector;
  if (clusterBytes > NtfsLimits.maxClusterBytes) return null;
  if (boot.totalSectors > BigInt(Number.MAX_SAFE_INTEGER) / BigInt(boot.bytesPerSector)) return null;
  const clusterCount = Math.floor((Number(boot.totalSectors) * boot.bytesPerSector) / clusterBytes);
  if (boot.mftCluster === 0n || boot.mftCluster >= BigInt(clusterCount)) return null;
  const perRecord = signedByte(boot.clustersPerMftRecord);
  const recordBytes = perRecord < 0 ? (-perRecord < 31 ? 2 ** -perRecord : 0) : perRecord * clusterBytes;
  if (!isPowerOfTwoIn(recordBytes, FIXUP_STRIDE, NtfsLimits.maxRecordBytes)) return null;
  return { clusterBytes, clusterCount, mftCluster: Number(boot.mftCluster), recordBytes };
}

// ---- records and attributes -----------------------------------------------------------------------------

const RECORD_IN_USE = 0x01;
const RECORD_IS_DIRECTORY = 0x02;
const ATTR_END = 0xffffffff;
const ATTR_DATA = 0x80;
const ATTR_INDEX_ROOT = 0x90;
const ATTR_INDEX_ALLOCATION = 0xa0;
const ATTR_FILE_NAME = 0x30;
/** Directories index their file names under the attribute name "$I30". */
const I30 = '$I30';
/** The smallest resident attribute header; a non-resident one is NTFS_NON_RESIDENT.size. */
const MIN_ATTRIBUTE_BYTES = NTFS_RESIDENT.size;

interface Attribute {
  type: number;
  name: string;
  /** A resident attribute's value; undefined for a non-resident one. */
  value?: Uint8Array;
  /** A non-resident attribute's runs (null when they do not decode) and value size. */
  runs?: Run[] | null;
  dataSize?: number;
}

/** A run of an attribute's clusters: `lcn` null for a sparse run (no clusters, reads as zeros). */
interface Run {
  vcn: number;
  lcn: number | null;
  length: number;
}

/** A parsed MFT record: its flags and attributes. */
interface MftRecord {
  flags: number;
  sequence: number;
  attributes: Attribute[];
}

class NtfsVolume {
  /** @internal Made by open(), which maps the MFT first. */
  private constructor(
    private readonly volume: VolumeReader,
    private readonly g: NtfsGeometry,
    /** Where the MFT's bytes are: from record 0's $DATA, or from the boot sector's $MFT cluster on. */
    private readonly mftRuns: Run[],
    private readonly mftBytes: number,
  ) {}

  /**
   * Maps the MFT from its own record 0 ($MFT's $DATA runs), so records past a fragment are found. When record 0
   * does not give a usable map, the MFT is taken as contiguous from the boot sector's cluster, which holds
   * for the first records on every volume (Windows keeps them, the root included, together).
   */
  static async open(volume: VolumeReader, g: NtfsGeometry): Promise<NtfsVolume> {
    const contiguous = new NtfsVolume(
      volume,
      g,
      [{ vcn: 0, lcn: g.mftCluster, length: g.clusterCount - g.mftCluster }],
      (g.clusterCount - g.mftCluster) * g.clusterBytes,
    );
    const self = await contiguous.record(MFT_RECORD, null);
    const data = self?.attributes.find((a) => a.type === ATTR_DATA && a.name === '' && a.runs);
    if (data?.runs === undefined || data.runs === null || data.dataSize === undefined) return contiguous;
    const size = Math.min(data.dataSize, clustersIn(data.runs) * g.clusterBytes);
    return size < (ROOT_RECORD + 1) * g.recordBytes ? contiguous : new NtfsVolume(volume, g, data.runs, size);
  }

  /**
   * MFT record `number`, fixups applied, or null when it is unreadable, damaged, not in use, or (with
   * `sequence`, the reference's sequence number) reused for another file since the reference was written.
   */
  async record(number: number, sequence: number | null): Promise<MftRecord | null> {
    const size = this.g.recordBytes;
    if (number < 0 || (number + 1) * size > this.mftBytes) return null;
    const bytes = await this.readStream(this.mftRuns, number * size, size);
    if (bytes === null || bytes.length < NTFS_RECORD.size) return null;
    const header = NTFS_RECORD.decode(bytes);
    if (header.magic !== 'FILE' || !applyFixups(bytes, header.usaOffset, header.usaCount)) return null;
    if (!(header.flags & RECORD_IN_USE)) return null;
    // NTFS 3.1 records name themselves (the array moved to 0x30 to make room): a misplaced read shows here.
    if (header.usaOffset >= NTFS_RECORD.size && header.recordNumber !== number % 2 ** 32) return null;
    if (sequence !== null && sequence !== 0 && header.sequence !== sequence) return null;
    const end = Math.min(header.bytesInUse, size);
    return { flags: header.flags, sequence: header.sequence, attributes: this.attributes(bytes, header.attributesOffset, end) };
  }

  /** The attributes from `at` to the end marker (or `end`); a damaged header ends the list there. */
  private attributes(bytes: Uint8Array, at: number, end: number): Attribute[] {
    const out: Attribute[] = [];
    for (let n = 0; n < NtfsLimits.maxAttributes && at + NTFS_ATTRIBUTE.size <= end; n++) {
      const header = NTFS_ATTRIBUTE.decode(bytes, at);
      if (header.type === ATTR_END) break;
      // Attributes are 8-byte aligned and must fit their header and the record.
      if (header.length < MIN_ATTRIBUTE_BYTES || header.length % 8 !== 0 || at + header.length > end) break;
      const attr = bytes.subarray(at, at + header.length);
      const nameEnd = header.nameOffset + header.nameLength * 2;
      const name = nameEnd <= attr.length ? utf16(attr.subarray(header.nameOffset, nameEnd)) : null;
      if (name !== null) {
        const parsed = header.nonResident ? this.nonResident(attr) : resident(attr);
        if (parsed !== null) out.push({ type: header.type, name, ...parsed });
      }
      at += header.length;
    }
    return out;
  }

  /** Runs and size of a non-resident attribute; only a first extent (lowest VCN 0) is described whole. */
  private nonResident(attr: Uint8Array): Pick<Attribute, 'runs' | 'dataSize'> | null {
    if (attr.length < NTFS_NON_RESIDENT.size) return null;
    const header = NTFS_NON_RESIDENT.decode(attr);
    if (header.lowestVcn !== 0n || header.dataSize > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    return { runs: this.decodeRuns(attr, header.runsOffset), dataSize: Number(header.dataSize) };
  }

  /**
   * Data runs: a header byte whose low nibble is the size of the run length and high nibble the size of the LCN
   * delta (a signed offset from the previous run's LCN; size 0 is a sparse run); a 0 byte ends them. Null when
   * a run is malformed, lies outside the volume, or there are more than NtfsLimits.maxDataRuns.
   */
  private decodeRuns(attr: Uint8Array, at: number): Run[] | null {
    const runs: Run[] = [];
    let vcn = 0;
    let lcn = 0n;
    while (at < attr.length && attr[at] !== 0) {
      if (runs.length >= NtfsLimits.maxDataRuns) return null;
      const lengthBytes = attr[at]! & 0x0f;
      const offsetBytes = attr[at]! >> 4;
      if (lengthBytes === 0 || lengthBytes > 8 || offsetBytes > 8) return null;
      if (at + 1 + lengthBytes + offsetBytes > attr.length) return null;
      const length = readLittle(attr, at + 1, lengthBytes, false);
      if (length <= 0n || length > BigInt(this.g.clusterCount)) return null;
      if (offsetBytes === 0) {
        runs.push({ vcn, lcn: null, length: Number(length) });
      } else {
        lcn += readLittle(attr, at + 1 + lengthBytes, offsetBytes, true);
        if (lcn < 0n || lcn + length > BigInt(this.g.clusterCount)) return null;
        runs.push({ vcn, lcn: Number(lcn), length: Number(length) });
      }
      vcn += Number(length);
      at += 1 + lengthBytes + offsetBytes;
    }
    return runs;
  }

  // ---- directories --------------------------------------------------------------------------------------

  /**
   * The entries of the directory in MFT record `number`: its $I30 index walked from the root node through the
   * sub-nodes in $INDEX_ALLOCATION, each block once. Null when the record is no readable directory or its
   * index root is damaged; a damaged block or a limit reached gives the entries read so far.
   */
  async directory(number: number, sequence: number | null): Promise<IndexEntry[] | null> {
    const record = await this.record(number, sequence);
    if (record === null || !(record.flags & RECORD_IS_DIRECTORY)) return null;
    const rootAttr = record.attributes.find((a) => a.type === ATTR_INDEX_ROOT && a.name === I30);
    const value = rootAttr?.value;
    if (value === undefined || value.length < NTFS_INDEX_ROOT.size + NTFS_INDEX_HEADER.size) return null;
    const root = NTFS_INDEX_ROOT.decode(value);
    if (root.attributeType !== ATTR_FILE_NAME) return null;
    const walk: Walk = { entries: [], subNodes: [], left: NtfsLimits.maxDirectoryEntries };
    if (!indexNode(value, NTFS_INDEX_ROOT.size, value.length, walk)) return null;
    if (walk.subNodes.length > 0) await this.indexBlocks(record, root.indexBlockSize, walk);
    return walk.entries;
  }

  /** Reads the sub-nodes the walk has found (and those they point to) from the $I30 $INDEX_ALLOCATION. */
  private async indexBlocks(record: MftRecord, blockSize: number, walk: Walk): Promise<void> {
    if (!isPowerOfTwoIn(blockSize, FIXUP_STRIDE, NtfsLimits.maxIndexBlockBytes)) return;
    const allocation = record.attributes.find((a) => a.type === ATTR_INDEX_ALLOCATION && a.name === I30);
    const runs = allocation?.runs;
    if (runs === undefined || runs === null) return;
    const streamBytes = Math.min(allocation!.dataSize ?? 0, clustersIn(runs) * this.g.clusterBytes);
    // Sub-node VCNs count clusters, or 512-byte units when a block is smaller than a cluster.
    const unit = blockSize >= this.g.clusterBytes ? this.g.clusterBytes : FIXUP_STRIDE;
    const visited = new Set<number>();
    let budget = NtfsLimits.maxDirectoryBytes;
    while (walk.subNodes.length > 0 && walk.left > 0 && budget >= blockSize) {
      const vcn = walk.subNodes.pop()!;
      if (visited.has(vcn) || vcn * unit + blockSize > streamBytes) continue;
      visited.add(vcn);
      budget -= blockSize;
      const block = await this.readStream(runs, vcn * unit, blockSize);
      if (block === null) continue;
      const header = NTFS_INDEX_BLOCK.decode(block);
      if (header.magic !== 'INDX' || header.vcn !== BigInt(vcn)) continue;
      if (!applyFixups(block, header.usaOffset, header.usaCount)) continue;
      indexNode(block, INDEX_BLOCK_HEADER_AT, block.length, walk);
    }
  }

  // ---- reading --------------------------------------------------------------------------------------------

  /**
   * `length` bytes at byte `offset` of an attribute's stream, gathered from its runs; null when part of them is
   * sparse, not mapped by the runs, or past the volume.
   */
  private async readStream(runs: Run[], offset: number, length: number): Promise<Uint8Array | null> {
    const cb = this.g.clusterBytes;
    const pieces: Uint8Array[] = [];
    let at = offset;
    const end = offset + length;
    // Each step finishes a run or the request, so there are at most runs.length + 1 of them.
    for (let steps = 0; at < end && steps <= runs.length; steps++) {
      const cluster = Math.floor(at / cb);
      const run = runs.find((r) => cluster >= r.vcn && cluster < r.vcn + r.length);
      if (run === undefined || run.lcn === null) return null;
      const piece = Math.min(end - at, (run.vcn + run.length) * cb - at);
      const bytes = await this.volume.read((run.lcn + cluster - run.vcn) * cb + (at % cb), piece);
      if (bytes === null) return null;
      pieces.push(bytes);
      at += piece;
    }
    if (at < end) return null;
    // Copied, so fixups never write into the image's own buffers.
    return pieces.length === 1 ? Uint8Array.from(pieces[0]!) : new Uint8Array(Buffer.concat(pieces));
  }
}

// ---- index nodes ----------------------------------------------------------------------------------------

/** The node header of an index block sits after its 0x18-byte block header. */
const INDEX_BLOCK_HEADER_AT = 0x18;
const ENTRY_HAS_SUB_NODE = 0x01;
const ENTRY_LAST = 0x02;
const FILE_NAME_IS_DIRECTORY = 0x10000000;
/** A sub-node VCN is 8 bytes at the end of its entry. */
const VCN_BYTES = 8;
/** VCNs above this cannot address a block inside the 64 KiB x 2^32 an index could ever hold. */
const MAX_VCN = 2 ** 40;

interface IndexEntry {
  /** As stored (UTF-16LE). A file can appear twice: its Win32 name and its DOS 8.3 name. */
  name: string;
  /** MFT record number: the low 48 bits of the file reference. */
  record: number;
  sequence: number;
  directory: boolean;
}

/** What one directory walk has found, still has to visit, and may still read. */
interface Walk {
  entries: IndexEntry[];
  subNodes: number[];
  left: number;
}

/**
 * The entries of one index node whose header is at `at` in `bytes` (node contents may not pass `end`). False when
 * the header is damaged; a damaged entry ends the node with what was read before it.
 */
function indexNode(bytes: Uint8Array, at: number, end: number, walk: Walk): boolean {
  if (at + NTFS_INDEX_HEADER.size > end) return false;
  const header = NTFS_INDEX_HEADER.decode(bytes, at);
  const stop = Math.min(end, at + header.indexLength);
  let entry = at + header.entriesOffset;
  if (header.entriesOffset < NTFS_INDEX_HEADER.size || entry > stop) return false;
  while (entry + NTFS_INDEX_ENTRY.size <= stop && walk.left > 0) {
    walk.left--;
    const e = NTFS_INDEX_ENTRY.decode(bytes, entry);
    if (e.length < NTFS_INDEX_ENTRY.size || e.length % 8 !== 0 || entry + e.length > stop) break;
    if (e.flags & ENTRY_HAS_SUB_NODE && e.length >= NTFS_INDEX_ENTRY.size + VCN_BYTES) {
      const vcn = new DataView(bytes.buffer, bytes.byteOffset + entry + e.length - VCN_BYTES, VCN_BYTES).getBigUint64(0, true);
      if (vcn < BigInt(MAX_VCN)) walk.subNodes.push(Number(vcn));
    }
    if (e.flags & ENTRY_LAST) break;
    const named = fileName(bytes.subarray(entry + NTFS_INDEX_ENTRY.size, entry + e.length), e.keyLength);
    if (named !== null) {
      walk.entries.push({ ...named, record: e.recordHigh * 2 ** 32 + e.recordLow, sequence: e.sequence });
    }
    entry += e.length;
  }
  return true;
}

/** The name and kind an index key ($FILE_NAME) gives; null when the key cannot hold what it claims. */
function fileName(key: Uint8Array, keyLength: number): Pick<IndexEntry, 'name' | 'directory'> | null {
  if (keyLength < NTFS_FILE_NAME.size || keyLength > key.length) return null;
  const fn = NTFS_FILE_NAME.decode(key);
  const nameEnd = NTFS_FILE_NAME.size + fn.nameLength * 2;
  if (fn.nameLength === 0 || nameEnd > keyLength) return null;
  return { name: utf16(key.subarray(NTFS_FILE_NAME.size, nameEnd)), directory: (fn.fileAttributes & FILE_NAME_IS_DIRECTORY) !== 0 };
}

// ---- helpers --------------------------------------------------------------------------------------------

/**
 * Checks and undoes the update sequence: the last 2 bytes of every 512-byte stride must equal the sequence
 * number (else a write was torn, or the bytes are not a record), and get back the bytes kept in the array.
 */
function applyFixups(bytes: Uint8Array, usaOffset: number, usaCount: number): boolean {
  const strides = bytes.length / FIXUP_STRIDE;
  if (!Number.isInteger(strides) || usaCount !== strides + 1) return false;
  // The array lies in the first stride, after the header fields that locate it.
  if (usaOffset < 8 || usaOffset % 2 !== 0 || usaOffset + usaCount * 2 > FIXUP_STRIDE - 2) return false;
  const usn0 = bytes[usaOffset]!;
  const usn1 = bytes[usaOffset + 1]!;
  for (let i = 0; i < strides; i++) {
    const tail = (i + 1) * FIXUP_STRIDE - 2;
    if (bytes[tail] !== usn0 || bytes[tail + 1] !== usn1) return false;
  }
  for (let i = 0; i < strides; i++) {
    const tail = (i + 1) * FIXUP_STRIDE - 2;
    bytes[tail] = bytes[usaOffset + 2 + i * 2]!;
    bytes[tail + 1] = bytes[usaOffset + 3 + i * 2]!;
  }
  return true;
}

/** A resident attribute's value; null when it does not fit the attribute. */
function resident(attr: Uint8Array): Pick<Attribute, 'value'> | null {
  const header = NTFS_RESIDENT.decode(attr);
  const end = header.valueOffset + header.valueLength;
  return end <= attr.length ? { value: attr.subarray(header.valueOffset, end) } : null;
}

/** A little-endian integer of 1..8 bytes, sign-extended when `signed`. */
function readLittle(bytes: Uint8Array, at: number, width: number, signed: boolean): bigint {
  let value = 0n;
  for (let i = width - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]!);
  return signed ? BigInt.asIntN(width * 8, value) : value;
}

function clustersIn(runs: Run[]): number {
  return runs.reduce((total, run) => total + run.length, 0);
}

function utf16(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length - (bytes.length % 2)).toString('utf16le');
}

/**
 * Upper-cases ASCII letters only: the names looked for are ASCII, and NTFS's own $UpCase table does not fold
 * other letters into them the way String.toUpperCase does (dotless ı to I, ſ to S).
 */
function foldCase(name: string): string {
  return name.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32));
}

function signedByte(value: number): number {
  return value >= 0x80 ? value - 0x100 : value;
}

function isPowerOfTwoIn(value: number, min: number, max: number): boolean {
  return value >= min && value <= max && (value & (value - 1)) === 0;
}
