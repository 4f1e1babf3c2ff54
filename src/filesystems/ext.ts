/**
 * Read-only path lookup on ext2/3/4: reads a small file or lists a directory by path, so inspect can tell which
 * Linux distribution and kernels a root file system holds. Follows the on-disk layout in kernel.org's "ext4 Data
 * Structures and Algorithms": superblock, group descriptors, inode tables, extent trees and the classic block map,
 * linear directory blocks (htree directories included: their index blocks read as empty to a linear walk),
 * fast and slow symlinks, and inline data.
 *
 * The volume is untrusted. Every block number is checked against the volume, every count and size against a
 * named limit (ExtLimits), and every walk counts its steps, so loops end; garbage gives null (or, for a directory,
 * the entries read before it). Only the image's own DiskErrors escape (a read it refuses, e.g. NOT_SEEKABLE
 * outside the windows a streamed image keeps). Checksums (metadata_csum) are not verified and the journal is not
 * replayed: a volume captured while mounted reads as its last checkpoint did.
 */
import { DiskError } from '../errors.js';
import type { DiskImage } from '../image/types.js';
import { Limits } from '../limits.js';
import { VolumeReader, detectFilesystem } from './detect.js';
import {
  EXT_DIR_ENTRY,
  EXT_EXTENT,
  EXT_EXTENT_HEADER,
  EXT_EXTENT_INDEX,
  EXT_GROUP_DESC,
  EXT_GROUP_DESC_64,
  EXT_INODE,
  EXT_INODE_EXTRA,
  EXT_SUPERBLOCK,
  EXT_XATTR_ENTRY,
} from './structs.js';

export type ExtEntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface ExtDirectoryEntry {
  /** As stored (bytes decoded as UTF-8; invalid sequences become U+FFFD). */
  name: string;
  type: ExtEntryType;
}

/** Bounds on what one call reads, so hostile sizes, trees and links cannot make it allocate or loop without end. */
export const ExtLimits = {
  /** Symlinks followed in one path (Linux allows 40; real /etc/os-release chains have one or two). */
  maxSymlinks: 8,
  /** A symlink target longer than PATH_MAX is not a real one. */
  maxSymlinkBytes: 4096,
  /** Path components taken in one lookup, symlink expansions included. */
  maxPathSteps: 256,
  /** Bytes of one directory read for a lookup or a listing: ~30,000 short names, far more than /etc holds. */
  maxDirectoryBytes: 1024 * 1024,
  /** Directory bytes one lookup reads over all its components. */
  maxLookupBytes: 4 * 1024 * 1024,
  /** Extent-tree blocks read in one walk: a file read, or a directory scan (which maps a chunk at a time). */
  maxExtentNodes: 256,
  /** The kernel refuses extent trees deeper than 5. */
  maxExtentDepth: 5,
  /** Metadata blocks (descriptors, inode tables, tree nodes, indirect blocks) kept between reads. */
  blockCacheEntries: 64,
  /** Default `maxBytes` of readExtFile. */
  defaultFileBytes: 64 * 1024,
  /** Default `maxEntries` of listExtDirectory. */
  defaultDirectoryEntries: 4096,
} as const;

/**
 * The first `maxBytes` bytes of the file at `path` (all of it when shorter): a file larger than `maxBytes` comes
 * back truncated to `maxBytes`, not refused. Symlinks are followed, the last component's too. Null when the
 * volume is not ext2/3/4 or uses what this reader does not support (meta_bg, compression, encryption), when the
 * path does not lead to a regular file, and when the file's blocks are damaged (a block past the volume).
 */
export async function readExtFile(
  image: DiskImage,
  start: number,
  size: number,
  path: string,
  maxBytes: number = ExtLimits.defaultFileBytes,
): Promise<Uint8Array | null> {
  const fs = await openExtVolume(image, start, size);
  return fs === null ? null : fs.readFile(path, maxBytes);
}

/**
 * The entries of the directory at `path` ('.' and '..' left out), in on-disk order, at most `maxEntries`.
 * Symlinks on the way are followed. Null when the path does not lead to a directory (or the volume is not one this
 * reader supports); a directory whose later blocks are damaged gives the entries read before them.
 */
export async function listExtDirectory(
  image: DiskImage,
  start: number,
  size: number,
  path: string,
  maxEntries: number = ExtLimits.defaultDirectoryEntries,
): Promise<ExtDirectoryEntry[] | null> {
  const fs = await openExtVolume(image, start, size);
  return fs === null ? null : fs.listDirectory(path, maxEntries);
}

/**
 * Opens an ext2/3/4 volume for several lookups (they share a cache of metadata blocks). Null when the range holds
 * no ext volume this reader can walk.
 */
export async function openExtVolume(image: DiskImage, start: number, size: number): Promise<ExtVolume | null> {
  const fs = await detectFilesystem(image, start, size);
  if (fs === null || (fs.type !== 'ext2' && fs.type !== 'ext3' && fs.type !== 'ext4')) return null;
  const volume = new VolumeReader(image, start, size);
  const bytes = await volume.read(SUPERBLOCK_AT, EXT_SUPERBLOCK.size);
  if (bytes === null) return null;
  const geometry = extGeometry(EXT_SUPERBLOCK.decode(bytes));
  return geometry === null ? null : new ExtVolume(volume, geometry);
}

// ---- superblock -----------------------------------------------------------------------------------------

const SUPERBLOCK_AT = 1024;
const EXT_MAGIC = 0xef53;
const ROOT_INODE = 2;
const GOOD_OLD_REV = 0;
const GOOD_OLD_INODE_SIZE = 128;

const INCOMPAT_FILETYPE = 0x2;
const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_EXTENTS = 0x40;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_MMP = 0x100;
const INCOMPAT_FLEX_BG = 0x200;
const INCOMPAT_EA_INODE = 0x400;
const INCOMPAT_CSUM_SEED = 0x2000;
const INCOMPAT_LARGEDIR = 0x4000;
const INCOMPAT_INLINE_DATA = 0x8000;
const INCOMPAT_ENCRYPT = 0x10000;
const INCOMPAT_CASEFOLD = 0x20000;
/**
 * The incompat features whose on-disk meaning this reader knows. Anything else (compression 0x1, journal device
 * 0x8, meta_bg 0x10 which moves the descriptors, Lustre's dirdata 0x1000, bits defined later) changes where or
 * how things are stored, so the volume is refused rather than misread, as the kernel refuses to mount it.
 * flex_bg only moves bitmaps and inode tables, which the descriptors locate anyway; encrypt and casefold matter
 * per directory (encrypted ones are refused by their inode flag; casefolded names are stored as given).
 */
const INCOMPAT_UNDERSTOOD =
  INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_MMP | INCOMPAT_FLEX_BG |
  INCOMPAT_EA_INODE | INCOMPAT_CSUM_SEED | INCOMPAT_LARGEDIR | INCOMPAT_INLINE_DATA | INCOMPAT_ENCRYPT |
  INCOMPAT_CASEFOLD;
/** ext allows blocks of 1 KiB to 64 KiB: 1024 << 0..6. */
const MAX_LOG_BLOCK = 6;
const MIN_DESC_SIZE_64 = 64;
const MAX_DESC_SIZE = 1024;

interface ExtGeometry {
  blockSize: number;
  blocksCount: number;
  firstDataBlock: number;
  inodesCount: number;
  inodesPerGroup: number;
  inodeSize: number;
  groupCount: number;
  descSize: number;
  /** Directory entries carry their type (and an 8-bit name length). */
  fileType: boolean;
  largeDir: boolean;
}

/** The geometry the superblock gives, or null when its values cannot describe a volume this reader walks. */
function extGeometry(sb: ReturnType<typeof EXT_SUPERBLOCK.decode>): ExtGeometry | null {
  if (sb.magic !== EXT_MAGIC || sb.logBlockSize > MAX_LOG_BLOCK) return null;
  if ((sb.featureIncompat & ~INCOMPAT_UNDERSTOOD) !== 0) return null;
  const blockSize = 1024 << sb.logBlockSize;
  const wide = (sb.featureIncompat & INCOMPAT_64BIT) !== 0;
  const blocksCount = (wide ? sb.blocksCountHi * 2 ** 32 : 0) + sb.blocksCountLo;
  if (!Number.isSafeInteger(blocksCount * blockSize)) return null;
  // Block 0 holds the superblock unless blocks are 1 KiB (then it is block 1 and data starts there).
  if (sb.firstDataBlock > (blockSize === 1024 ? 1 : 0) || blocksCount <= sb.firstDataBlock) return null;
  // One bitmap block describes a group, so neither count can exceed its bits.
  const bitsPerBlock = blockSize * 8;
  if (sb.blocksPerGroup === 0 || sb.blocksPerGroup > bitsPerBlock) return null;
  if (sb.inodesPerGroup === 0 || sb.inodesPerGroup > bitsPerBlock) return null;
  const inodeSize = sb.revLevel === GOOD_OLD_REV ? GOOD_OLD_INODE_SIZE : sb.inodeSize;
  if (!isPowerOfTwoIn(inodeSize, GOOD_OLD_INODE_SIZE, blockSize)) return null;
  const descSize = wide ? sb.descSize : EXT_GROUP_DESC.size;
  if (wide && !isPowerOfTwoIn(descSize, MIN_DESC_SIZE_64, Math.min(MAX_DESC_SIZE, blockSize))) return null;
  const groupCount = Math.ceil((blocksCount - sb.firstDataBlock) / sb.blocksPerGroup);
  if (sb.inodesCount === 0 || sb.inodesCount > groupCount * sb.inodesPerGroup) return null;
  return {
    blockSize,
    blocksCount,
    firstDataBlock: sb.firstDataBlock,
    inodesCount: sb.inodesCount,
    inodesPerGroup: sb.inodesPerGroup,
    inodeSize,
    groupCount,
    descSize,
    fileType: (sb.featureIncompat & INCOMPAT_FILETYPE) !== 0,
    largeDir: (sb.featureIncompat & INCOMPAT_LARGEDIR) !== 0,
  };
}

// ---- inodes ---------------------------------------------------------------------------------------------

const S_IFMT = 0xf000;
const S_IFDIR = 0x4000;
const S_IFREG = 0x8000;
const S_IFLNK = 0xa000;

/** i_flags that matter for reading (ext4 docs, Index Nodes, i_flags). */
const FL_ENCRYPT = 0x800;
const FL_EXTENTS = 0x80000;
const FL_INLINE_DATA = 0x10000000;
/** Bytes of i_block: 15 block numbers, or an extent header and four entries, or a short symlink's target. */
const I_BLOCK_BYTES = 60;
const DIRECT_BLOCKS = 12;
const SINGLE_INDIRECT = 12;
const DOUBLE_INDIRECT = 13;
const EXTENT_MAGIC = 0xf30a;
/** Above this an extent's length marks it unwritten (preallocated, reads as zeros). */
const EXTENT_INIT_MAX = 32768;
const XATTR_MAGIC = 0xea020000;
const XATTR_INDEX_SYSTEM = 7;
/** Entries in one inode body: its few hundred bytes cannot hold more. */
const MAX_IBODY_XATTRS = 64;

interface Inode {
  number: number;
  mode: number;
  size: number;
  flags: number;
  /** The 60 bytes of i_block. */
  block: Uint8Array;
  blocks512: number;
  fileAcl: number;
  /** The whole on-disk inode, for in-inode extended attributes. */
  raw: Uint8Array;
}

const isDirectory = (inode: Inode) => (inode.mode & S_IFMT) === S_IFDIR;
const isRegular = (inode: Inode) => (inode.mode & S_IFMT) === S_IFREG;
const isSymlink = (inode: Inode) => (inode.mode & S_IFMT) === S_IFLNK;

function typeOfMode(mode: number): ExtEntryType {
  const format = mode & S_IFMT;
  return format === S_IFREG ? 'file' : format === S_IFDIR ? 'dir' : format === S_IFLNK ? 'symlink' : 'other';
}

/** Directory entry file_type values (ext4 docs, Linear Directories): 1 regular, 2 directory, 7 symlink. */
function typeOfEntry(fileType: number): ExtEntryType {
  return fileType === 1 ? 'file' : fileType === 2 ? 'dir' : fileType === 7 ? 'symlink' : 'other';
}

// ---- the volume -----------------------------------------------------------------------------------------

/** A run of a file's logical blocks: `physical` 0 stands for a hole (or an unwritten extent), which reads as zeros. */
interface Run {
  logical: number;
  physical: number;
  length: number;
}

interface RawEntry {
  inode: number;
  name: Uint8Array;
  fileType: number;
}

/** What one lookup may still read: counts down as directories are scanned. */
interface Budget {
  bytes: number;
}

/** Extent-tree blocks one walk (a file read, a directory scan) may still read. */
interface NodeBudget {
  nodes: number;
}

/** Blocks mapped per step of a directory walk: directories are read a piece at a time, not whole. */
const DIRECTORY_CHUNK_BLOCKS = 16;
/** Largest single read of file data, well under Limits.maxRead. */
const READ_PIECE_BYTES = 4 * 1024 * 1024;

export class ExtVolume {
  private readonly cache = new Map<number, Uint8Array | null>();
  private readonly g: ExtGeometry;

  /** @internal Made by openExtVolume, which checks the superblock first. */
  constructor(
    private readonly volume: VolumeReader,
    geometry: ExtGeometry,
  ) {
    this.g = geometry;
  }

  /** See readExtFile. */
  async readFile(path: string, maxBytes: number = ExtLimits.defaultFileBytes): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0 || maxBytes > Limits.maxRead) {
      throw new DiskError('USAGE', `maxBytes must be 0..${Limits.maxRead}, not ${maxBytes}`);
    }
    const inode = await this.resolve(path, true);
    if (inode === null || !isRegular(inode)) return null;
    return this.readData(inode, Math.min(inode.size, maxBytes));
  }

  /** See listExtDirectory. */
  async listDirectory(path: string, maxEntries: number = ExtLimits.defaultDirectoryEntries): Promise<ExtDirectoryEntry[] | null> {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
      throw new DiskError('USAGE', `maxEntries must be a non-negative integer, not ${maxEntries}`);
    }
    const dir = await this.resolve(path, true);
    // Encrypted names are ciphertext: refused, as the path lookup refuses to search them.
    if (dir === null || !isDirectory(dir) || dir.flags & FL_ENCRYPT) return null;
    const out: ExtDirectoryEntry[] = [];
    if (maxEntries === 0) return out;
    const budget = { bytes: ExtLimits.maxDirectoryBytes };
    for await (const entry of this.entries(dir, budget)) {
      if (isDotOrDotDot(entry.name)) continue;
      // Without the filetype feature only the inode says what an entry is (one more read each, bounded).
      const type = this.g.fileType ? typeOfEntry(entry.fileType) : await this.typeOfInode(entry.inode);
      out.push({ name: Buffer.from(entry.name).toString('utf8'), type });
      if (out.length >= maxEntries) break;
    }
    return out;
  }

  /** What `path` leads to once symlinks are followed: null when nothing (or something unreadable) is there. */
  async typeOf(path: string): Promise<ExtEntryType | null> {
    const inode = await this.resolve(path, true);
    return inode === null ? null : typeOfMode(inode.mode);
  }

  // ---- path resolution --------------------------------------------------------------------------------

  /**
   * Walks `path` from the root (a relative path counts from the root too). '..' climbs the walk's own stack of
   * directories, so it cannot leave the volume and needs no '..' entry; a symlink's target replaces it in the
   * components still to walk, absolute targets starting again at the root. Steps and links are counted.
   */
  private async resolve(path: string, followLast: boolean): Promise<Inode | null> {
    const root = await this.inode(ROOT_INODE);
    if (root === null || !isDirectory(root)) return null;
    const pending = components(path).reverse();
    let stack: Inode[] = [root];
    const budget: Budget = { bytes: ExtLimits.maxLookupBytes };
    let links = 0;
    for (let steps = 0; pending.length > 0; steps++) {
      if (steps >= ExtLimits.maxPathSteps) return null;
      const name = pending.pop()!;
      if (name === '.') continue;
      if (name === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const dir = stack[stack.length - 1]!;
      if (!isDirectory(dir)) return null;
      const number = await this.lookup(dir, Buffer.from(name, 'utf8'), budget);
      if (number === null) return null;
      const inode = await this.inode(number);
      if (inode === null) return null;
      if (isSymlink(inode) && (pending.length > 0 || followLast)) {
        if (++links > ExtLimits.maxSymlinks) return null;
        const target = await this.readLink(inode);
        if (target === null) return null;
        if (target.startsWith('/')) stack = [root];
        pending.push(...components(target).reverse());
        continue;
      }
      stack.push(inode);
    }
    return stack[stack.length - 1]!;
  }

  /** The inode number `name` has in `dir`, scanning its entries linearly (htree blocks included). */
  private async lookup(dir: Inode, name: Uint8Array, budget: Budget): Promise<number | null> {
    for await (const entry of this.entries(dir, budget)) {
      if (Buffer.compare(entry.name, name) === 0) return entry.inode;
    }
    return null;
  }

  /** A symlink's target: in i_block when short (a fast symlink), else in its data like a file's. */
  private async readLink(inode: Inode): Promise<string | null> {
    if (inode.size === 0 || inode.size > ExtLimits.maxSymlinkBytes) return null;
    let bytes: Uint8Array | null;
    if (inode.flags & FL_INLINE_DATA) bytes = this.inlineData(inode, inode.size);
    else if (this.isFastSymlink(inode)) bytes = inode.block.subarray(0, inode.size);
    else bytes = await this.readData(inode, inode.size);
    if (bytes === null || bytes.length !== inode.size || bytes.includes(0)) return null;
    return Buffer.from(bytes).toString('utf8');
  }

  /**
   * A target shorter than i_block is stored there, and such a symlink owns no data blocks: i_blocks counts only
   * its xattr block, if any. Testing both keeps the rare short symlink that old tools stored in a block readable.
   */
  private isFastSymlink(inode: Inode): boolean {
    if (inode.size >= I_BLOCK_BYTES) return false;
    const xattrSectors = inode.fileAcl !== 0 ? this.g.blockSize / 512 : 0;
    return inode.blocks512 <= xattrSectors;
  }

  // ---- inodes -------------------------------------------------------------------------------------------

  /** Inode `number` (1-based), or null when the number, its group descriptor or its inode table is out of range. */
  private async inode(number: number): Promise<Inode | null> {
    const g = this.g;
    if (!Number.isSafeInteger(number) || number < 1 || number > g.inodesCount) return null;
    const group = Math.floor((number - 1) / g.inodesPerGroup);
    const index = (number - 1) % g.inodesPerGroup;
    if (group >= g.groupCount) return null;
    const table = await this.inodeTable(group);
    if (table === null) return null;
    const byte = index * g.inodeSize;
    const block = await this.block(table + Math.floor(byte / g.blockSize));
    if (block === null) return null;
    const at = byte % g.blockSize;
    // Inode sizes are powers of two no larger than a block, so an inode never straddles two blocks.
    const raw = block.subarray(at, at + g.inodeSize);
    const fields = EXT_INODE.decode(raw);
    const regularOrLargeDir = (fields.mode & S_IFMT) === S_IFREG || g.largeDir;
    const size = (regularOrLargeDir ? fields.sizeHigh * 2 ** 32 : 0) + fields.sizeLo;
    return {
      number,
      mode: fields.mode,
      size,
      flags: fields.flags,
      block: fields.block,
      blocks512: fields.blocksLo,
      fileAcl: fields.fileAclLo,
      raw,
    };
  }

  /** The first block of a group's inode table, from its descriptor; null when the table lies past the volume. */
  private async inodeTable(group: number): Promise<number | null> {
    const g = this.g;
    const byte = group * g.descSize;
    const descriptors = g.firstDataBlock + 1;
    const block = await this.block(descriptors + Math.floor(byte / g.blockSize));
    if (block === null) return null;
    const at = byte % g.blockSize;
    let table = EXT_GROUP_DESC.decode(block, at).inodeTableLo;
    if (g.descSize >= EXT_GROUP_DESC_64.size) table += EXT_GROUP_DESC_64.decode(block, at).inodeTableHi * 2 ** 32;
    const tableBlocks = Math.ceil((g.inodesPerGroup * g.inodeSize) / g.blockSize);
    return table > g.firstDataBlock && table + tableBlocks <= g.blocksCount ? table : null;
  }

  private async typeOfInode(number: number): Promise<ExtEntryType> {
    const inode = await this.inode(number);
    return inode === null ? 'other' : typeOfMode(inode.mode);
  }

  // ---- data ---------------------------------------------------------------------------------------------

  /** The first `length` bytes of an inode's data; null when its map is damaged or points past the volume. */
  private async readData(inode: Inode, length: number): Promise<Uint8Array | null> {
    if (inode.flags & FL_ENCRYPT) return null;
    if (inode.flags & FL_INLINE_DATA) return this.inlineData(inode, length);
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const bs = this.g.blockSize;
    const runs = await this.map(inode, 0, Math.ceil(length / bs), { nodes: ExtLimits.maxExtentNodes });
    if (runs === null) return null;
    for (const run of runs) {
      if (run.physical === 0) continue;
      const from = run.logical * bs;
      const bytes = Math.min(run.length * bs, length - from);
      for (let done = 0; done < bytes; done += READ_PIECE_BYTES) {
        const piece = Math.min(READ_PIECE_BYTES, bytes - done);
        const data = await this.volume.read(run.physical * bs + done, piece);
        if (data === null) return null;
        out.set(data, from + done);
      }
    }
    return out;
  }

  /**
   * Inline data: the first 60 bytes in i_block, the rest in the in-inode xattr "system.data". Null when the
   * inode claims more than those two hold.
   */
  private inlineData(inode: Inode, length: number): Uint8Array | null {
    const head = inode.block.subarray(0, Math.min(length, I_BLOCK_BYTES));
    if (length <= I_BLOCK_BYTES) return Uint8Array.from(head);
    const rest = this.inlineXattr(inode);
    if (rest === null || I_BLOCK_BYTES + rest.length < length) return null;
    return Buffer.concat([head, rest.subarray(0, length - I_BLOCK_BYTES)]);
  }

  /** The value of "system.data" among the inode body's extended attributes, or null. */
  private inlineXattr(inode: Inode): Uint8Array | null {
    const raw = inode.raw;
    if (raw.length < EXT_INODE_EXTRA.size) return null;
    const start = GOOD_OLD_INODE_SIZE + EXT_INODE_EXTRA.decode(raw).extraIsize;
    if (start + 4 > raw.length || readU32(raw, start) !== XATTR_MAGIC) return null;
    const first = start + 4;
    let at = first;
    for (let n = 0; n < MAX_IBODY_XATTRS && at + EXT_XATTR_ENTRY.size <= raw.length; n++) {
      // Four zero bytes end the list.
      if (readU32(raw, at) === 0) return null;
      const entry = EXT_XATTR_ENTRY.decode(raw, at);
      const nameAt = at + EXT_XATTR_ENTRY.size;
      if (nameAt + entry.nameLen > raw.length) return null;
      const name = Buffer.from(raw.subarray(nameAt, nameAt + entry.nameLen)).toString('latin1');
      if (entry.nameIndex === XATTR_INDEX_SYSTEM && name === 'data' && entry.valueInum === 0) {
        const valueAt = first + entry.valueOffs;
        if (valueAt + entry.valueSize > raw.length) return null;
        return raw.subarray(valueAt, valueAt + entry.valueSize);
      }
      // Entries are padded to 4 bytes.
      at = nameAt + ((entry.nameLen + 3) & ~3);
    }
    return null;
  }

  /**
   * The runs covering logical blocks [from, from + count), in logical order and without overlap (a damaged tree
   * can map a block twice: the first mapping wins), so readers never read more than `count` blocks. Blocks not
   * covered are holes. Null when the map is damaged: a bad extent header, a tree too deep or too large, a block
   * past the volume.
   */
  private async map(inode: Inode, from: number, count: number, budget: NodeBudget): Promise<Run[] | null> {
    const runs =
      inode.flags & FL_EXTENTS
        ? await this.extentRuns(inode.block, from, from + count, budget)
        : await this.blockMapRuns(inode.block, from, from + count);
    if (runs === null) return null;
    runs.sort((a, b) => a.logical - b.logical);
    const out: Run[] = [];
    let covered = from;
    for (const run of runs) {
      const skip = Math.max(0, covered - run.logical);
      if (skip >= run.length) continue;
      out.push({ logical: run.logical + skip, physical: run.physical + skip, length: run.length - skip });
      covered = run.logical + run.length;
    }
    return out;
  }

  /** Walks the extent tree from its root in i_block, descending only into nodes that cover the range. */
  private async extentRuns(root: Uint8Array, from: number, end: number, budget: NodeBudget): Promise<Run[] | null> {
    const runs: Run[] = [];
    const visit = async (node: Uint8Array, depth: number | null): Promise<boolean> => {
      const header = EXT_EXTENT_HEADER.decode(node);
      if (header.magic !== EXTENT_MAGIC || header.depth > ExtLimits.maxExtentDepth) return false;
      // A node's depth is one less than its parent's, so the walk cannot revisit a level.
      if (depth !== null && header.depth !== depth) return false;
      const capacity = Math.floor((node.length - EXT_EXTENT_HEADER.size) / EXT_EXTENT.size);
      if (header.entries > header.max || header.entries > capacity) return false;
      for (let i = 0; i < header.entries; i++) {
        const at = EXT_EXTENT_HEADER.size + i * EXT_EXTENT.size;
        if (header.depth === 0) {
          const extent = EXT_EXTENT.decode(node, at);
          const unwritten = extent.len > EXTENT_INIT_MAX;
          const length = unwritten ? extent.len - EXTENT_INIT_MAX : extent.len;
          const first = Math.max(extent.block, from);
          const last = Math.min(extent.block + length, end);
          if (first >= last) continue;
          const start = extent.startHi * 2 ** 32 + extent.startLo;
          if (!this.validRun(start, length)) return false;
          // Unwritten extents are allocated but read as zeros: left as holes.
          if (!unwritten) runs.push({ logical: first, physical: start + (first - extent.block), length: last - first });
          continue;
        }
        const index = EXT_EXTENT_INDEX.decode(node, at);
        // Entries are sorted: this child covers up to the next entry's first block.
        const next = i + 1 < header.entries ? EXT_EXTENT_INDEX.decode(node, at + EXT_EXTENT.size).block : Infinity;
        if (index.block >= end || next <= from) continue;
        if (--budget.nodes < 0) return false;
        const leaf = index.leafHi * 2 ** 32 + index.leafLo;
        const child = this.validRun(leaf, 1) ? await this.block(leaf) : null;
        if (child === null || !(await visit(child, header.depth - 1))) return false;
      }
      return true;
    };
    return (await visit(root, null)) ? runs : null;
  }

  /**
   * The classic ext2/3 map: 12 direct block numbers, then a single and a double indirect block. The triple
   * indirect block starts past 64 MiB even with 1 KiB blocks, beyond anything this reader reads.
   */
  private async blockMapRuns(iblock: Uint8Array, from: number, end: number): Promise<Run[] | null> {
    const perBlock = this.g.blockSize / 4;
    const runs: Run[] = [];
    for (let logical = from; logical < end; logical++) {
      let physical: number | null;
      if (logical < DIRECT_BLOCKS) {
        physical = readU32(iblock, logical * 4);
      } else if (logical - DIRECT_BLOCKS < perBlock) {
        physical = await this.indirect(readU32(iblock, SINGLE_INDIRECT * 4), logical - DIRECT_BLOCKS);
      } else if (logical - DIRECT_BLOCKS - perBlock < perBlock * perBlock) {
        const n = logical - DIRECT_BLOCKS - perBlock;
        const middle = await this.indirect(readU32(iblock, DOUBLE_INDIRECT * 4), Math.floor(n / perBlock));
        physical = middle === null ? null : await this.indirect(middle, n % perBlock);
      } else {
        return null;
      }
      if (physical === null) return null;
      if (physical === 0) continue;
      const last = runs[runs.length - 1];
      if (last !== undefined && last.logical + last.length === logical && last.physical + last.length === physical) {
        last.length++;
      } else {
        runs.push({ logical, physical, length: 1 });
      }
    }
    return runs;
  }

  /**
   * Entry `index` of indirect block `block`: 0 (a hole) when `block` is 0, null when either number lies outside
   * the volume. Indirect blocks come through the cache, so a walk reads each once.
   */
  private async indirect(block: number, index: number): Promise<number | null> {
    if (block === 0) return 0;
    if (!this.validRun(block, 1)) return null;
    const bytes = await this.block(block);
    if (bytes === null) return null;
    const value = readU32(bytes, index * 4);
    return value === 0 || this.validRun(value, 1) ? value : null;
  }

  /** Data and metadata live in blocks after the superblock's and before the volume's end. */
  private validRun(start: number, length: number): boolean {
    return start > this.g.firstDataBlock && start + length <= this.g.blocksCount;
  }

  // ---- directories --------------------------------------------------------------------------------------

  /**
   * A directory's live entries in on-disk order, read a chunk of blocks at a time until its size, the directory
   * limit or the lookup's budget is reached. An htree directory reads the same way: its root block's '..' entry
   * spans the index data, and interior index blocks hold one empty entry (inode 0) spanning the block. A damaged
   * entry ends its block; a damaged map or a block past the volume ends the walk.
   */
  private async *entries(dir: Inode, budget: Budget): AsyncGenerator<RawEntry> {
    if (dir.flags & FL_ENCRYPT) return;
    if (dir.flags & FL_INLINE_DATA) {
      // The first 4 bytes of an inline directory hold the parent's inode number in place of '..'.
      yield* this.blockEntries(dir.block.subarray(4));
      const rest = this.inlineXattr(dir);
      if (rest !== null) yield* this.blockEntries(rest);
      return;
    }
    const bs = this.g.blockSize;
    const size = Math.min(dir.size, ExtLimits.maxDirectoryBytes);
    const blocks = Math.ceil(size / bs);
    const nodes: NodeBudget = { nodes: ExtLimits.maxExtentNodes };
    for (let chunk = 0; chunk < blocks; chunk += DIRECTORY_CHUNK_BLOCKS) {
      const runs = await this.map(dir, chunk, Math.min(DIRECTORY_CHUNK_BLOCKS, blocks - chunk), nodes);
      if (runs === null) return;
      for (const run of runs) {
        if (run.physical === 0) continue;
        if (budget.bytes < run.length * bs) return;
        budget.bytes -= run.length * bs;
        const data = await this.volume.read(run.physical * bs, run.length * bs);
        if (data === null) return;
        for (let b = 0; b < run.length; b++) yield* this.blockEntries(data.subarray(b * bs, (b + 1) * bs));
      }
    }
  }

  /** The entries of one directory block (or inline area); entries never straddle blocks. */
  private *blockEntries(block: Uint8Array): Generator<RawEntry> {
    let at = 0;
    while (at + EXT_DIR_ENTRY.size <= block.length) {
      const entry = EXT_DIR_ENTRY.decode(block, at);
      const nameLen = this.g.fileType ? entry.nameLen : entry.nameLen16;
      const recLen = this.recLen(entry.recLen);
      // A record must hold its header and name, keep 4-byte alignment and end inside the block; rec_len 0 would
      // never advance. Anything else ends this block.
      if (recLen < EXT_DIR_ENTRY.size + nameLen || recLen % 4 !== 0 || at + recLen > block.length) return;
      if (entry.inode !== 0 && nameLen > 0) {
        const name = block.subarray(at + EXT_DIR_ENTRY.size, at + EXT_DIR_ENTRY.size + nameLen);
        // A name with '/' or NUL cannot be a path component: damage, skipped.
        if (!name.includes(0x2f) && !name.includes(0)) {
          yield { inode: entry.inode, name, fileType: this.g.fileType ? entry.fileType : 0 };
        }
      }
      at += recLen;
    }
  }

  /** On 64 KiB blocks a record spanning the whole block cannot fit 16 bits: 65535 (or 0) stands for 65536. */
  private recLen(raw: number): number {
    return this.g.blockSize === 65536 && (raw === 65535 || raw === 0) ? 65536 : raw;
  }

  // ---- blocks -------------------------------------------------------------------------------------------

  /** One whole metadata block through a small cache; null when it lies past the volume. */
  private async block(number: number): Promise<Uint8Array | null> {
    const cached = this.cache.get(number);
    if (cached !== undefined) return cached;
    const bs = this.g.blockSize;
    const bytes = number >= 0 && number < this.g.blocksCount ? await this.volume.read(number * bs, bs) : null;
    if (this.cache.size >= ExtLimits.blockCacheEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(number, bytes);
    return bytes;
  }
}

// ---- helpers --------------------------------------------------------------------------------------------

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}

function isDotOrDotDot(name: Uint8Array): boolean {
  return name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e));
}

function readU32(bytes: Uint8Array, at: number): number {
  return at + 4 <= bytes.length ? new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true) : 0;
}

function isPowerOfTwoIn(value: number, min: number, max: number): boolean {
  return value >= min && value <= max && (value & (value - 1)) === 0;
}
