/**
 * Says which file system (or volume signature: LVM2 PV, swap, LUKS, BitLocker) a byte range of a disk image
 * holds, by its superblock or boot sector. Reads a few KiB per volume, never outside [start, start + size) or past the image.
 * Garbage gives null; only the image's own DiskErrors (a read it refuses) escape.
 */
import { DiskError } from '../errors.js';
import type { DiskImage } from '../image/types.js';
import type { Struct, FieldSpec } from '../struct/index.js';
import {
  BITLOCKER_BOOT,
  BTRFS_SUPERBLOCK,
  EXFAT_BOOT,
  EXT_SUPERBLOCK,
  FAT_BOOT,
  FAT_EXTENDED_BPB,
  ISO_PVD,
  JFS_SUPERBLOCK,
  LUKS_HEADER,
  LVM2_LABEL,
  LVM2_PV_HEADER,
  NTFS_BOOT,
  SWAP_HEADER,
  XFS_SUPERBLOCK,
} from './structs.js';

export type FilesystemType =
  | 'vfat' | 'ntfs' | 'exfat' | 'ext2' | 'ext3' | 'ext4' | 'xfs' | 'btrfs' | 'lvm2' | 'swap' | 'iso9660'
  // Encrypted volumes, under the names blkid gives them, and IBM's JFS.
  | 'crypto_LUKS' | 'BitLocker' | 'jfs';

export interface Filesystem {
  type: FilesystemType;
  label?: string;
  /** In the form blkid prints for this type. */
  uuid?: string;
  /** Bytes, from the superblock. */
  size?: number;
  fatType?: 'FAT12' | 'FAT16' | 'FAT32';
  /** LUKS header version (1 or 2). */
  version?: number;
}

/**
 * One read of the first 4 KiB covers the boot sector (FAT, NTFS, exFAT), the XFS superblock, the LVM2 label
 * sectors 0-3, the ext superblock at 1024 and the swap signature of 4 KiB pages.
 */
const HEAD_BYTES = 4096;
const BOOT_SIGNATURE = 0xaa55;
const EXT_SUPERBLOCK_AT = 1024;
const BTRFS_SUPERBLOCK_AT = 64 * 1024;
const ISO_DESCRIPTOR_AT = 16 * 2048;
/** JFS leaves the first 32 KiB to boot code and keeps its primary superblock right after. */
const JFS_SUPERBLOCK_AT = 32 * 1024;
const SWAP_MAGIC = 'SWAPSPACE2';
/** Page sizes other than 4 KiB (arm64, ppc64) move the swap signature; tried only when nothing else matched. */
const LARGE_PAGE_SIZES = [8192, 16384, 32768, 65536];

export async function detectFilesystem(image: DiskImage, start: number, size: number): Promise<Filesystem | null> {
  const volume = new VolumeReader(image, start, size);
  const head = await volume.readUpTo(0, HEAD_BYTES);
  return (
    probeLuks(head) ??
    probeBitLocker(head) ??
    // Before FAT: a BitLocker To Go volume keeps a valid-looking FAT32 boot sector for old readers.
    (await probeBitLockerToGo(volume, head)) ??
    fromHead(head) ??
    (await probeBtrfs(volume)) ??
    (await probeIso9660(volume)) ??
    (await probeJfs(volume)) ??
    (await probeLargePageSwap(volume))
  );
}

/** Probes that need only the first 4 KiB, strongest signatures first, FAT (the weakest) last. */
function fromHead(head: Uint8Array): Filesystem | null {
  return probeLvm2(head) ?? probeXfs(head) ?? probeExt(head) ?? probeSwap(head, 4096) ??
    probeNtfs(head) ?? probeExfat(head) ?? probeFat(head);
}

/**
 * Reads inside one volume, refusing (with null) anything past its end or the image's. Shared with the FAT
 * directory reader (fat.ts), which walks further into the volume than detection does.
 */
export class VolumeReader {
  private readonly limit: number;

  constructor(
    private readonly image: DiskImage,
    private readonly start: number,
    size: number,
  ) {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || size < 0) {
      throw new DiskError('USAGE', `bad volume range: start ${start}, size ${size}`);
    }
    const imageRoom = image.virtualSize === undefined ? size : Math.max(0, image.virtualSize - start);
    this.limit = Math.min(size, imageRoom);
  }

  /** Exactly `length` bytes at `offset` in the volume, or null when they lie past its end. */
  async read(offset: number, length: number): Promise<Uint8Array | null> {
    if (offset + length > this.limit) return null;
    return this.image.read(this.start + offset, length);
  }

  /** Up to `length` bytes: fewer when the volume is shorter. */
  async readUpTo(offset: number, length: number): Promise<Uint8Array> {
    const available = Math.min(length, this.limit - offset);
    return available > 0 ? this.image.read(this.start + offset, available) : new Uint8Array(0);
  }
}

/** Decodes `struct` at `at`, or gives undefined when the bytes are too short to hold it. */
function decodeAt<F extends Record<string, FieldSpec>>(struct: Struct<F>, bytes: Uint8Array, at = 0) {
  return bytes.length - at >= struct.size ? struct.decode(bytes, at) : undefined;
}

// ---- LVM2 -----------------------------------------------------------------------------------------------

function probeLvm2(head: Uint8Array): Filesystem | null {
  for (let sector = 0; sector < 4; sector++) {
    const label = decodeAt(LVM2_LABEL, head, sector * 512);
    if (label === undefined) return null;
    // The label names its own sector; a stray "LABELONE" elsewhere does not.
    if (label.id !== 'LABELONE' || label.type !== 'LVM2 001' || label.sector !== BigInt(sector)) continue;
    if (label.offset < LVM2_LABEL.size || label.offset + LVM2_PV_HEADER.size > 512) return { type: 'lvm2' };
    const pv = LVM2_PV_HEADER.decode(head, sector * 512 + label.offset);
    return withOptional({ type: 'lvm2' }, { uuid: lvmUuid(pv.uuid), size: safeBytes(pv.deviceSize, 1) });
  }
  return null;
}

/** LVM prints its 32-character ids in groups of 6-4-4-4-4-4-6. */
function lvmUuid(raw: string): string | undefined {
  if (!/^[0-9A-Za-z!#]{32}$/.test(raw)) return undefined;
  const groups = [6, 4, 4, 4, 4, 4, 6];
  let at = 0;
  return groups.map((n) => raw.slice(at, (at += n))).join('-');
}

// ---- XFS ------------------------------------------------------------------------------------------------

function probeXfs(head: Uint8Array): Filesystem | null {
  const sb = decodeAt(XFS_SUPERBLOCK, head);
  if (sb === undefined || sb.magic !== 'XFSB') return null;
  // Block and sector sizes the format allows; anything else is not a real superblock.
  if (!isPowerOfTwoIn(sb.blockSize, 512, 65536) || !isPowerOfTwoIn(sb.sectorSize, 512, 32768)) return null;
  return withOptional(
    { type: 'xfs' },
    { label: text(sb.fname), uuid: plainUuid(sb.uuid), size: safeBytes(sb.dataBlocks, sb.blockSize) },
  );
}

// ---- ext2/3/4 -------------------------------------------------------------------------------------------

const EXT_MAGIC = 0xef53;
const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_EXTENTS = 0x40;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_FLEX_BG = 0x200;
/** Largest block size ext allows is 64 KiB: 1024 << 6. */
const EXT_MAX_LOG_BLOCK = 6;

function probeExt(head: Uint8Array): Filesystem | null {
  const sb = decodeAt(EXT_SUPERBLOCK, head, EXT_SUPERBLOCK_AT);
  if (sb === undefined || sb.magic !== EXT_MAGIC) return null;
  if (sb.logBlockSize > EXT_MAX_LOG_BLOCK) return null;
  // An external journal device carries the same superblock but holds no file system.
  if (sb.featureIncompat & INCOMPAT_JOURNAL_DEV) return null;
  const blocks = (sb.featureIncompat & INCOMPAT_64BIT ? BigInt(sb.blocksCountHi) << 32n : 0n) + BigInt(sb.blocksCountLo);
  return withOptional(
    { type: extVersion(sb.featureCompat, sb.featureIncompat) },
    { label: text(sb.volumeName), uuid: plainUuid(sb.uuid), size: safeBytes(blocks, 1024 << sb.logBlockSize) },
  );
}

/** ext4-only incompat features make it ext4; a journal alone makes it ext3 (kernel ext4 docs, feature flags). */
function extVersion(compat: number, incompat: number): 'ext2' | 'ext3' | 'ext4' {
  if (incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG)) return 'ext4';
  return compat & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
}

// ---- swap -----------------------------------------------------------------------------------------------

/** The signature ends the first page; `bytes` starts at the volume's start and covers that page. */
function probeSwap(bytes: Uint8Array, pageSize: number): Filesystem | null {
  if (bytes.length < pageSize) return null;
  if (ascii(bytes.subarray(pageSize - SWAP_MAGIC.length, pageSize)) !== SWAP_MAGIC) return null;
  const header = SWAP_HEADER.decode(bytes);
  // Written in the byte order of the machine that ran mkswap; version 1 is the only one with this magic.
  const lastPage = header.versionLe === 1 ? header.lastPageLe : header.versionBe === 1 ? header.lastPageBe : undefined;
  if (lastPage === undefined) return { type: 'swap' };
  return withOptional(
    { type: 'swap' },
    { label: text(header.volumeName), uuid: plainUuid(header.uuid), size: (lastPage + 1) * pageSize },
  );
}

/** Reads the header and each larger page's last 10 bytes; the header read is skipped when no magic is found. */
async function probeLargePageSwap(volume: VolumeReader): Promise<Filesystem | null> {
  for (const pageSize of LARGE_PAGE_SIZES) {
    const tail = await volume.read(pageSize - SWAP_MAGIC.length, SWAP_MAGIC.length);
    if (tail === null) return null;
    if (ascii(tail) !== SWAP_MAGIC) continue;
    const header = await volume.read(0, SWAP_HEADER.size);
    if (header === null) return null;
    const page = new Uint8Array(pageSize);
    page.set(header);
    page.set(tail, pageSize - SWAP_MAGIC.length);
    return probeSwap(page, pageSize);
  }
  return null;
}

// ---- NTFS / exFAT ---------------------------------------------------------------------------------------

function probeNtfs(head: Uint8Array): Filesystem | null {
  const boot = decodeAt(NTFS_BOOT, head);
  if (boot === undefined || boot.oemId !== 'NTFS    ' || boot.signature !== BOOT_SIGNATURE) return null;
  if (!isPowerOfTwoIn(boot.bytesPerSector, 256, 4096)) return null;
  // blkid shows the 64-bit volume serial number as 16 hex digits.
  const serial = boot.serialNumber === 0n ? undefined : boot.serialNumber.toString(16).toUpperCase().padStart(16, '0');
  return withOptional({ type: 'ntfs' }, { uuid: serial, size: safeBytes(boot.totalSectors, boot.bytesPerSector) });
}

function probeExfat(head: Uint8Array): Filesystem | null {
  const boot = decodeAt(EXFAT_BOOT, head);
  if (boot === undefined || boot.fileSystemName !== 'EXFAT   ' || boot.signature !== BOOT_SIGNATURE) return null;
  // The spec's own validity rules: the old BPB area is zero, sectors 512..4096 bytes, clusters at most 32 MiB.
  if (boot.mustBeZero.some((b) => b !== 0)) return null;
  if (boot.bytesPerSectorShift < 9 || boot.bytesPerSectorShift > 12) return null;
  if (boot.sectorsPerClusterShift > 25 - boot.bytesPerSectorShift) return null;
  if (boot.numberOfFats !== 1 && boot.numberOfFats !== 2) return null;
  return withOptional(
    { type: 'exfat' },
    { uuid: serialUuid(boot.volumeSerialNumber), size: safeBytes(boot.volumeLength, 2 ** boot.bytesPerSectorShift) },
  );
}

// ---- LUKS / BitLocker / JFS -----------------------------------------------------------------------------

const LUKS_MAGIC = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]; // "LUKS\xba\xbe"

function probeLuks(head: Uint8Array): Filesystem | null {
  const header = decodeAt(LUKS_HEADER, head);
  if (header === undefined || !LUKS_MAGIC.every((b, i) => header.magic[i] === b)) return null;
  // Only the two versions cryptsetup defines; the magic alone is 48 bits, so no further field is required.
  if (header.version !== 1 && header.version !== 2) return null;
  return withOptional(
    { type: 'crypto_LUKS', version: header.version },
    { uuid: text(header.uuid), label: header.version === 2 ? text(header.label) : undefined },
  );
}

const FVE_SIGNATURE = '-FVE-FS-';

/** Vista and later write "-FVE-FS-" where NTFS keeps "NTFS    ": the volume is encrypted whatever follows. */
function probeBitLocker(head: Uint8Array): Filesystem | null {
  const boot = decodeAt(BITLOCKER_BOOT, head);
  return boot !== undefined && boot.oemId === FVE_SIGNATURE ? { type: 'BitLocker' } : null;
}

/**
 * BitLocker To Go: EB 58 90 "MSWIN4.1" like any FAT32 volume Windows formats, so the sector alone proves nothing;
 * the FVE metadata block it points at must start with "-FVE-FS-". One 8-byte read, and only for such sectors.
 */
async function probeBitLockerToGo(volume: VolumeReader, head: Uint8Array): Promise<Filesystem | null> {
  const boot = decodeAt(BITLOCKER_BOOT, head);
  if (boot === undefined || boot.oemId !== 'MSWIN4.1') return null;
  if (boot.jump[0] !== 0xeb || boot.jump[1] !== 0x58 || boot.jump[2] !== 0x90) return null;
  const at = boot.toGoMetadataOffset;
  if (at === 0n || at > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const signature = await volume.read(Number(at), FVE_SIGNATURE.length);
  return signature !== null && ascii(signature) === FVE_SIGNATURE ? { type: 'BitLocker' } : null;
}

/** Largest JFS block size is 4 KiB; the log2 fields are checked before 2 ** them is trusted. */
const JFS_MAX_LOG2_BLOCK = 12;

async function probeJfs(volume: VolumeReader): Promise<Filesystem | null> {
  const bytes = await volume.read(JFS_SUPERBLOCK_AT, JFS_SUPERBLOCK.size);
  if (bytes === null) return null;
  const sb = JFS_SUPERBLOCK.decode(bytes);
  if (sb.magic !== 'JFS1') return null;
  // The block sizes are stored twice (bytes and log2) and their ratio a third time; all three must agree.
  const log2Block = sb.log2BlockSize;
  const log2Physical = sb.log2PhysicalBlockSize;
  if (log2Block > JFS_MAX_LOG2_BLOCK || log2Physical > log2Block) return null;
  if (sb.blockSize !== 2 ** log2Block || sb.physicalBlockSize !== 2 ** log2Physical) return null;
  if (log2Block - log2Physical !== sb.log2BlockFactor) return null;
  return withOptional({ type: 'jfs' }, { label: text(sb.label), uuid: plainUuid(sb.uuid) });
}

// ---- FAT ------------------------------------------------------------------------------------------------

/** fatgen103: the cluster count alone decides the FAT type. */
const FAT12_MAX_CLUSTERS = 4085;
const FAT16_MAX_CLUSTERS = 65525;

function probeFat(head: Uint8Array): Filesystem | null {
  const layout = fatGeometry(head);
  if (layout === null) return null;
  const ext = FAT_EXTENDED_BPB.decode(head, layout.fatType === 'FAT32' ? 0x40 : 0x24);
  // Signature 0x29 says the id and label follow; 0x28 has only the id.
  const hasId = ext.bootSignature === 0x29 || ext.bootSignature === 0x28;
  const label = ext.bootSignature === 0x29 ? ext.volumeLabel.trimEnd() : '';
  return withOptional(
    { type: 'vfat', fatType: layout.fatType },
    {
      label: label === '' || label === 'NO NAME' ? undefined : label,
      uuid: hasId ? serialUuid(ext.volumeId) : undefined,
      size: layout.totalSectors * layout.bytesPerSector,
    },
  );
}

type Bpb = ReturnType<typeof FAT_BOOT.decode>;

/** Where a FAT volume keeps its tables and data, in the units fatgen103 uses (sectors, clusters). */
export interface FatGeometry {
  fatType: 'FAT12' | 'FAT16' | 'FAT32';
  bytesPerSector: number;
  sectorsPerCluster: number;
  totalSectors: number;
  /** First sector of the first FAT (the reserved area's length). */
  fatStart: number;
  /** Sectors in one FAT. */
  fatSize: number;
  /** FAT12/16: the fixed root directory's first sector and entry count. */
  rootDirStart: number;
  rootEntries: number;
  /** First sector of cluster 2. */
  dataStart: number;
  /** Data clusters: valid cluster numbers are 2 .. clusterCount + 1. */
  clusterCount: number;
  /** FAT32: the root directory's first cluster. */
  rootCluster: number;
}

/**
 * Decodes and checks a FAT boot sector (`head` holds at least its first 512 bytes): null unless it has the
 * signature, the jump, values fatgen103 allows and a layout that adds up.
 */
export function fatGeometry(head: Uint8Array): FatGeometry | null {
  const bpb = decodeAt(FAT_BOOT, head);
  if (bpb === undefined || bpb.signature !== BOOT_SIGNATURE || !hasJump(bpb.jump) || !saneBpb(bpb)) return null;
  const layout = fatLayout(bpb);
  if (layout === null) return null;
  const rootDirStart = bpb.reservedSectors + bpb.fatCount * layout.fatSize;
  return {
    fatType: layout.fatType,
    bytesPerSector: bpb.bytesPerSector,
    sectorsPerCluster: bpb.sectorsPerCluster,
    totalSectors: layout.totalSectors,
    fatStart: bpb.reservedSectors,
    fatSize: layout.fatSize,
    rootDirStart,
    rootEntries: bpb.rootEntries,
    dataStart: rootDirStart + layout.rootDirSectors,
    clusterCount: layout.clusters,
    rootCluster: bpb.rootCluster,
  };
}

/** x86 jump at the start: EB xx 90 (short) or E9 xx xx (near), per fatgen103 BS_jmpBoot. */
function hasJump(jump: Uint8Array): boolean {
  return (jump[0] === 0xeb && jump[2] === 0x90) || jump[0] === 0xe9;
}

/** The BPB values fatgen103 allows, so random bytes ending in 55 AA are not taken for FAT. */
function saneBpb(bpb: Bpb): boolean {
  return (
    isPowerOfTwoIn(bpb.bytesPerSector, 512, 4096) &&
    isPowerOfTwoIn(bpb.sectorsPerCluster, 1, 128) &&
    bpb.reservedSectors > 0 &&
    bpb.fatCount > 0 &&
    (bpb.media === 0xf0 || bpb.media >= 0xf8)
  );
}

/** fatgen103's cluster-count computation; null when the numbers do not describe a volume. */
function fatLayout(
  bpb: Bpb,
): { fatType: 'FAT12' | 'FAT16' | 'FAT32'; totalSectors: number; fatSize: number; rootDirSectors: number; clusters: number } | null {
  const fatSize = bpb.fatSize16 !== 0 ? bpb.fatSize16 : bpb.fatSize32;
  const totalSectors = bpb.totalSectors16 !== 0 ? bpb.totalSectors16 : bpb.totalSectors32;
  if (fatSize === 0 || totalSectors === 0) return null;
  const rootDirSectors = Math.ceil((bpb.rootEntries * 32) / bpb.bytesPerSector);
  const dataSectors = totalSectors - (bpb.reservedSectors + bpb.fatCount * fatSize + rootDirSectors);
  if (dataSectors <= 0) return null;
  const clusters = Math.floor(dataSectors / bpb.sectorsPerCluster);
  const fatType = clusters < FAT12_MAX_CLUSTERS ? 'FAT12' : clusters < FAT16_MAX_CLUSTERS ? 'FAT16' : 'FAT32';
  // FAT32 keeps its size in FATSz32 only (fatgen103), and each FAT must hold an entry per cluster plus two.
  if (fatType === 'FAT32' && bpb.fatSize16 !== 0) return null;
  const entryBits = fatType === 'FAT12' ? 12 : fatType === 'FAT16' ? 16 : 32;
  if (Math.ceil(((clusters + 2) * entryBits) / 8) > fatSize * bpb.bytesPerSector) return null;
  return { fatType, totalSectors, fatSize, rootDirSectors, clusters };
}

// ---- btrfs / ISO 9660 -----------------------------------------------------------------------------------

async function probeBtrfs(volume: VolumeReader): Promise<Filesystem | null> {
  const bytes = await volume.read(BTRFS_SUPERBLOCK_AT, BTRFS_SUPERBLOCK.size);
  if (bytes === null) return null;
  const sb = BTRFS_SUPERBLOCK.decode(bytes);
  if (sb.magic !== '_BHRfS_M' || !isPowerOfTwoIn(sb.sectorSize, 512, 65536)) return null;
  return withOptional(
    { type: 'btrfs' },
    { label: text(sb.label), uuid: plainUuid(sb.fsid), size: safeBytes(sb.totalBytes, 1) },
  );
}

const ISO_PRIMARY_DESCRIPTOR = 1;

async function probeIso9660(volume: VolumeReader): Promise<Filesystem | null> {
  const bytes = await volume.read(ISO_DESCRIPTOR_AT, ISO_PVD.size);
  if (bytes === null) return null;
  const vd = ISO_PVD.decode(bytes);
  if (vd.standardId !== 'CD001' || vd.version !== 1) return null;
  // Another descriptor first (rare) still proves ISO 9660, but its fields mean other things.
  if (vd.type !== ISO_PRIMARY_DESCRIPTOR) return { type: 'iso9660' };
  // Both-endian fields: when the halves disagree the size is not to be trusted.
  const consistent = vd.spaceSizeLe === vd.spaceSizeBe && vd.blockSizeLe === vd.blockSizeBe;
  return withOptional(
    { type: 'iso9660' },
    { label: vd.volumeId.trimEnd() || undefined, size: consistent ? vd.spaceSizeLe * vd.blockSizeLe : undefined },
  );
}

// ---- helpers --------------------------------------------------------------------------------------------

/** Adds only the facts that are present, so results compare cleanly with toEqual. */
function withOptional(base: Filesystem, extra: Omit<Partial<Filesystem>, 'type'>): Filesystem {
  const out: Filesystem = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) (out as unknown as Record<string, unknown>)[key] = value;
  }
  return out;
}

function isPowerOfTwoIn(value: number, min: number, max: number): boolean {
  return value >= min && value <= max && (value & (value - 1)) === 0;
}

/** count x unit as a number, or undefined when zero or too large to be a real size. */
function safeBytes(count: bigint, unit: number): number | undefined {
  const bytes = count * BigInt(unit);
  return bytes > 0n && bytes <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bytes) : undefined;
}

/** The RFC 4122 text form of 16 bytes in order, as blkid prints ext, XFS, btrfs and swap UUIDs; none if all zero. */
function plainUuid(bytes: Uint8Array): string | undefined {
  if (bytes.every((b) => b === 0)) return undefined;
  const hex = Buffer.from(bytes).toString('hex');
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
}

/** FAT and exFAT 32-bit volume serials, as blkid prints them: XXXX-XXXX. */
function serialUuid(serial: number): string {
  const hex = serial.toString(16).toUpperCase().padStart(8, '0');
  return `${hex.slice(0, 4)}-${hex.slice(4)}`;
}

/** A NUL-padded UTF-8 name field (ext, XFS, btrfs, swap labels); none if empty. */
function text(bytes: Uint8Array): string | undefined {
  const end = bytes.indexOf(0);
  const name = Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('utf8');
  return name === '' ? undefined : name;
}

function ascii(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}
