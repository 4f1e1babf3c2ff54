/**
 * Finds the UEFI fallback loaders (\EFI\BOOT\BOOT<arch>.EFI) on a FAT12/16/32 EFI System Partition, which AWS VM
 * Import needs on a Linux UEFI disk, and the vendor folders beside them. Reads the boot sector, the FAT sectors
 * on the chains it follows, the three directories on the path and at most 4 KiB of each loader: a few KiB on a
 * real ESP. The volume is untrusted: chains that loop or leave the volume, huge directories and impossible
 * geometry end the walk with what was found so far; only the image's own DiskErrors (a read it refuses) escape.
 */
import type { DiskImage } from '../image/types.js';
import { VolumeReader, detectFilesystem, fatGeometry, type FatGeometry } from './detect.js';
import { architectureOfMachine, peMachine, type EfiArchitecture } from './pe.js';
import { FAT_DIR_ENTRY, FAT_LFN_ENTRY } from './structs.js';

export interface EfiLoader {
  /** As on disk (long name where there is one), e.g. 'EFI/BOOT/BOOTX64.EFI'. */
  path: string;
  /** Bytes, from the directory entry. */
  size: number;
  /** From the PE header when the file starts with one, else from the file name. */
  architecture: EfiArchitecture | null;
  /** The PE/COFF Machine field, when the file starts with a readable PE header. */
  peMachine?: number;
}

export interface EspContents {
  /** The fallback loaders found in \EFI\BOOT, in directory order. */
  loaders: EfiLoader[];
  /** The names of the folders under \EFI (BOOT included), in directory order, as on disk. */
  vendors: string[];
}

/** Removable-media fallback names (UEFI 2.10, 3.5.1.1) and the CPU each one names. */
const FALLBACK_LOADERS: ReadonlyMap<string, EfiArchitecture> = new Map([
  ['BOOTX64.EFI', 'x86_64'],
  ['BOOTIA32.EFI', 'i386'],
  ['BOOTAA64.EFI', 'arm64'],
  ['BOOTARM.EFI', 'arm'],
  ['BOOTRISCV64.EFI', 'riscv64'],
] as const);

/** Bounds on what one walk reads, so hostile sizes and chains cannot make it allocate or loop without end. */
export const FatLimits = {
  /** Entries read from one directory: 4096 x 32 bytes = 128 KiB. An ESP directory holds a handful. */
  maxDirectoryEntries: 4096,
  /** Bytes of each loader read to find its PE header. */
  peProbeBytes: 4096,
  /** FAT sectors cached at once (each 512..4096 bytes). */
  fatCacheSectors: 16,
} as const;

const ENTRY_SIZE = 32;
/** Largest single read of directory or file bytes; a multiple of every sector size FAT allows. */
const PIECE_BYTES = 4096;
const ATTR_VOLUME_ID = 0x08;
const ATTR_DIRECTORY = 0x10;
/** fatgen103: read-only | hidden | system | volume id, and no other bit of the low six, marks a long-name piece. */
const ATTR_LONG_NAME = 0x0f;
const ATTR_LONG_NAME_MASK = 0x3f;
const LAST_LONG_ENTRY = 0x40;
/** 255 characters need 20 pieces of 13. */
const MAX_LONG_PIECES = 20;
const END_OF_DIRECTORY = 0x00;
const DELETED = 0xe5;
/** A short name starting with a real 0xE5 byte is stored with 0x05 so it does not read as deleted. */
const KANJI_E5 = 0x05;
/** Windows NT keeps "this part is lower case" flags in the byte fatgen103 reserves at 0x0C. */
const NT_LOWER_BASE = 0x08;
const NT_LOWER_EXT = 0x10;

interface DirEntry {
  /** The long name when a valid one precedes the entry, else the short name with NT's case flags applied. */
  name: string;
  shortName: string;
  isDirectory: boolean;
  firstCluster: number;
  size: number;
}

export async function findEfiLoaders(image: DiskImage, start: number, size: number): Promise<EspContents> {
  const found: EspContents = { loaders: [], vendors: [] };
  // Detection first: a BitLocker or LUKS volume can keep a valid FAT boot sector over encrypted contents.
  if ((await detectFilesystem(image, start, size))?.type !== 'vfat') return found;
  const volume = new VolumeReader(image, start, size);
  const geometry = fatGeometry(await volume.readUpTo(0, 512));
  if (geometry === null) return found;
  const fat = new FatVolume(volume, geometry);

  const efi = (await fat.rootDirectory()).find((e) => e.isDirectory && matches(e, 'EFI'));
  if (efi === undefined) return found;
  const vendorDirs = (await fat.directory(efi.firstCluster)).filter((e) => e.isDirectory);
  found.vendors = vendorDirs.map((e) => e.name);

  const boot = vendorDirs.find((e) => matches(e, 'BOOT'));
  if (boot === undefined) return found;
  const seen = new Set<string>();
  for (const entry of await fat.directory(boot.firstCluster)) {
    if (entry.isDirectory) continue;
    const known = fallbackName(entry);
    // A damaged directory can repeat a name; the firmware takes the first, and so do we.
    if (known === undefined || seen.has(known)) continue;
    seen.add(known);
    found.loaders.push(await describeLoader(fat, `${efi.name}/${boot.name}/${entry.name}`, entry, known));
  }
  return found;
}

async function describeLoader(fat: FatVolume, path: string, entry: DirEntry, name: string): Promise<EfiLoader> {
  const head = await fat.readFileStart(entry.firstCluster, Math.min(entry.size, FatLimits.peProbeBytes));
  const machine = peMachine(head);
  if (machine === undefined) return { path, size: entry.size, architecture: FALLBACK_LOADERS.get(name) ?? null };
  // The header says what the file is built for, whatever it is called.
  return { path, size: entry.size, architecture: architectureOfMachine(machine), peMachine: machine };
}

/** FAT names are case-insensitive; either the long or the short name may carry it. */
function matches(entry: DirEntry, upper: string): boolean {
  return entry.name.toUpperCase() === upper || entry.shortName.toUpperCase() === upper;
}

function fallbackName(entry: DirEntry): string | undefined {
  for (const candidate of [entry.name.toUpperCase(), entry.shortName.toUpperCase()]) {
    if (FALLBACK_LOADERS.has(candidate)) return candidate;
  }
  return undefined;
}

/** Cluster-level access to one FAT volume whose boot sector passed fatGeometry's checks. */
class FatVolume {
  private readonly clusterBytes: number;
  /** Reads inside a cluster go in pieces of this size, so a directory that ends early costs one small read. */
  private readonly pieceBytes: number;
  private readonly lastCluster: number;
  private readonly fatBytes: number;
  private readonly fatCache = new Map<number, Uint8Array | null>();

  constructor(
    private readonly volume: VolumeReader,
    private readonly g: FatGeometry,
  ) {
    this.clusterBytes = g.bytesPerSector * g.sectorsPerCluster;
    this.pieceBytes = Math.min(this.clusterBytes, PIECE_BYTES);
    this.lastCluster = g.clusterCount + 1;
    this.fatBytes = g.fatSize * g.bytesPerSector;
  }

  /** FAT12/16 keep the root in a fixed area after the FATs; FAT32 in a cluster chain like any directory. */
  async rootDirectory(): Promise<DirEntry[]> {
    if (this.g.fatType === 'FAT32') return this.directory(this.g.rootCluster);
    const bytes = Math.min(this.g.rootEntries, FatLimits.maxDirectoryEntries) * ENTRY_SIZE;
    return parseDirectory(this.areaPieces(this.g.rootDirStart * this.g.bytesPerSector, bytes), false);
  }

  /** The directory whose chain starts at `first`, up to FatLimits.maxDirectoryEntries entries. */
  async directory(first: number): Promise<DirEntry[]> {
    const pieces = this.chainPieces(first, FatLimits.maxDirectoryEntries * ENTRY_SIZE);
    return parseDirectory(pieces, this.g.fatType === 'FAT32');
  }

  /** The first `length` bytes of a file (fewer when its chain ends early or leaves the volume). */
  async readFileStart(first: number, length: number): Promise<Uint8Array> {
    const pieces: Uint8Array[] = [];
    for await (const piece of this.chainPieces(first, length)) pieces.push(piece);
    return Buffer.concat(pieces);
  }

  /** A fixed area (the FAT12/16 root) in pieces; stops early at the volume's end. */
  private async *areaPieces(offset: number, length: number): AsyncGenerator<Uint8Array> {
    for (let done = 0; done < length; done += PIECE_BYTES) {
      const piece = await this.volume.readUpTo(offset + done, Math.min(PIECE_BYTES, length - done));
      if (piece.length === 0) return;
      yield piece;
    }
  }

  /**
   * Follows a chain from `first`, yielding its bytes in pieces until `budget` bytes. Each cluster is visited at
   * most once, so a looping chain ends; the FAT is read only when the consumer wants the next cluster.
   */
  private async *chainPieces(first: number, budget: number): AsyncGenerator<Uint8Array> {
    const visited = new Set<number>();
    let cluster: number | null = this.isDataCluster(first) ? first : null;
    let left = budget;
    while (cluster !== null && left > 0 && !visited.has(cluster)) {
      visited.add(cluster);
      const base = this.clusterOffset(cluster);
      for (let done = 0; done < this.clusterBytes && left > 0; done += this.pieceBytes) {
        const length = Math.min(this.pieceBytes, left);
        const piece = await this.volume.read(base + done, length);
        if (piece === null) return;
        left -= length;
        yield piece;
      }
      if (left > 0) cluster = await this.next(cluster);
    }
  }

  private isDataCluster(cluster: number): boolean {
    return cluster >= 2 && cluster <= this.lastCluster;
  }

  private clusterOffset(cluster: number): number {
    return (this.g.dataStart + (cluster - 2) * this.g.sectorsPerCluster) * this.g.bytesPerSector;
  }

  /**
   * The cluster after `cluster` in its chain, or null at the end of the chain, on a bad-cluster mark, a free or
   * reserved value, or a number past the last cluster (which also covers every end-of-chain value).
   */
  private async next(cluster: number): Promise<number | null> {
    const { fatType } = this.g;
    const at = fatType === 'FAT12' ? cluster + (cluster >> 1) : fatType === 'FAT16' ? cluster * 2 : cluster * 4;
    const width = fatType === 'FAT32' ? 4 : 2;
    if (at + width > this.fatBytes) return null;
    let raw = 0;
    // Byte by byte through the sector cache: a FAT12 entry may straddle two sectors.
    for (let i = width - 1; i >= 0; i--) {
      const byte = await this.fatByte(at + i);
      if (byte === null) return null;
      raw = raw * 256 + byte;
    }
    const value =
      fatType === 'FAT12' ? (cluster & 1 ? raw >> 4 : raw & 0xfff) : fatType === 'FAT16' ? raw : raw % 0x10000000;
    return this.isDataCluster(value) ? value : null;
  }

  /** A byte of the first FAT; null when its sector lies past the volume. */
  private async fatByte(offset: number): Promise<number | null> {
    const sectorSize = this.g.bytesPerSector;
    const sector = Math.floor(offset / sectorSize);
    let bytes = this.fatCache.get(sector);
    if (bytes === undefined) {
      if (this.fatCache.size >= FatLimits.fatCacheSectors) this.fatCache.clear();
      bytes = await this.volume.read((this.g.fatStart + sector) * sectorSize, sectorSize);
      this.fatCache.set(sector, bytes);
    }
    return bytes === null ? null : bytes[offset % sectorSize]!;
  }
}

interface LongName {
  pieces: string[];
  /** The ordinal the next piece must carry; 0 once the name is whole. */
  next: number;
  checksum: number;
}

/** Decodes 32-byte entries until the end marker, joining long-name pieces to the short entry they precede. */
async function parseDirectory(pieces: AsyncIterable<Uint8Array>, fat32: boolean): Promise<DirEntry[]> {
  const entries: DirEntry[] = [];
  let long: LongName | null = null;
  // Pieces are whole sectors, so entries never straddle two; a short last piece (volume end) drops its tail.
  for await (const chunk of pieces) {
    for (let at = 0; at + ENTRY_SIZE <= chunk.length; at += ENTRY_SIZE) {
      const first = chunk[at]!;
      if (first === END_OF_DIRECTORY) return entries;
      if (first === DELETED) {
        long = null;
        continue;
      }
      if ((chunk[at + 11]! & ATTR_LONG_NAME_MASK) === ATTR_LONG_NAME) {
        long = addLongPiece(long, chunk, at);
        continue;
      }
      const entry = FAT_DIR_ENTRY.decode(chunk, at);
      const longName = long !== null && long.next === 0 && long.checksum === shortNameChecksum(entry.name) ? long : null;
      long = null;
      if (entry.attributes & ATTR_VOLUME_ID) continue;
      const shortName = decodeShortName(entry.name, entry.ntCase);
      if (shortName === '' || shortName === '.' || shortName === '..') continue;
      entries.push({
        name: longName?.pieces.join('') || shortName,
        shortName,
        isDirectory: (entry.attributes & ATTR_DIRECTORY) !== 0,
        // The high half is FAT32's; FAT12/16 keep other data (or zero) there and no cluster exceeds 16 bits.
        firstCluster: (fat32 ? entry.firstClusterHigh * 0x10000 : 0) + entry.firstClusterLow,
        size: entry.fileSize,
      });
    }
  }
  return entries;
}

/**
 * Pieces are stored last first (the one flagged 0x40 carries the highest ordinal) and count down to 1; a piece
 * out of sequence or with another checksum abandons the name, and the short name stands on its own.
 */
function addLongPiece(long: LongName | null, chunk: Uint8Array, at: number): LongName | null {
  const piece = FAT_LFN_ENTRY.decode(chunk, at);
  const ordinal = piece.order & 0x1f;
  if (piece.order & LAST_LONG_ENTRY) {
    long = ordinal >= 1 && ordinal <= MAX_LONG_PIECES
      ? { pieces: new Array<string>(ordinal).fill(''), next: ordinal, checksum: piece.checksum }
      : null;
  }
  if (long === null || ordinal !== long.next || piece.checksum !== long.checksum) return null;
  long.pieces[ordinal - 1] = ucs2Piece(piece.name1, piece.name2, piece.name3);
  long.next -= 1;
  return long;
}

/** 13 UCS-2 characters; a NUL ends the name and 0xFFFF pads the rest of the last piece. */
function ucs2Piece(...parts: Uint8Array[]): string {
  const text = Buffer.concat(parts).toString('utf16le');
  const end = text.indexOf('\0');
  return end === -1 ? text : text.slice(0, end);
}

/** fatgen103's checksum of the 11-byte short name, which every long-name piece repeats. */
function shortNameChecksum(name: Uint8Array): number {
  let sum = 0;
  for (const byte of name) sum = (((sum & 1) << 7) + (sum >> 1) + byte) & 0xff;
  return sum;
}

/** "BOOTX64 EFI" -> "BOOTX64.EFI", lower-cased where NT's flags say so. OEM code page read as Latin-1. */
function decodeShortName(raw: Uint8Array, ntCase: number): string {
  const bytes = Uint8Array.from(raw);
  if (bytes[0] === KANJI_E5) bytes[0] = DELETED;
  let base = Buffer.from(bytes.subarray(0, 8)).toString('latin1').trimEnd();
  let ext = Buffer.from(bytes.subarray(8, 11)).toString('latin1').trimEnd();
  if (ntCase & NT_LOWER_BASE) base = base.toLowerCase();
  if (ntCase & NT_LOWER_EXT) ext = ext.toLowerCase();
  return ext === '' ? base : `${base}.${ext}`;
}
