/**
 * Superblock and boot-sector field tables, only the fields detection needs. Offsets are from the start of the
 * structure; where the structure sits in the volume is in detect.ts. See formats.md section 8.
 */
import { defineStruct } from '../struct/index.js';

/** Boot sector of every FAT volume: the common BPB (Microsoft fatgen103, "Boot Sector and BPB"). */
export const FAT_BOOT = defineStruct('FAT boot sector', 512, {
  jump: [0x00, 'bytes', 3],
  bytesPerSector: [0x0b, 'u16le'],
  sectorsPerCluster: [0x0d, 'u8'],
  reservedSectors: [0x0e, 'u16le'],
  fatCount: [0x10, 'u8'],
  rootEntries: [0x11, 'u16le'],
  totalSectors16: [0x13, 'u16le'],
  media: [0x15, 'u8'],
  fatSize16: [0x16, 'u16le'],
  totalSectors32: [0x20, 'u32le'],
  fatSize32: [0x24, 'u32le'],
  signature: [0x1fe, 'u16le'],
});

/** The extended BPB, which sits at 0x24 on FAT12/16 and at 0x40 on FAT32 (fatgen103). Offsets from there. */
export const FAT_EXTENDED_BPB = defineStruct('FAT extended BPB', 26, {
  bootSignature: [0x02, 'u8'],
  volumeId: [0x03, 'u32le'],
  volumeLabel: [0x07, 'ascii', 11],
});

/** NTFS boot sector (no public spec; layout per the Linux kernel ntfs3 driver / ntfs-3g, formats.md 8). */
export const NTFS_BOOT = defineStruct('NTFS boot sector', 512, {
  oemId: [0x03, 'ascii', 8],
  bytesPerSector: [0x0b, 'u16le'],
  totalSectors: [0x28, 'u64le'],
  serialNumber: [0x48, 'u64le'],
  signature: [0x1fe, 'u16le'],
});

/** exFAT Main Boot Sector (Microsoft "exFAT file system specification", section 3.1). */
export const EXFAT_BOOT = defineStruct('exFAT boot sector', 512, {
  fileSystemName: [0x03, 'ascii', 8],
  mustBeZero: [0x0b, 'bytes', 53],
  volumeLength: [0x48, 'u64le'],
  volumeSerialNumber: [0x64, 'u32le'],
  bytesPerSectorShift: [0x6c, 'u8'],
  sectorsPerClusterShift: [0x6d, 'u8'],
  numberOfFats: [0x6e, 'u8'],
  signature: [0x1fe, 'u16le'],
});

/** ext2/3/4 superblock, at byte 1024 of the volume (kernel.org "ext4 Data Structures and Algorithms", Super Block). */
export const EXT_SUPERBLOCK = defineStruct('ext superblock', 1024, {
  blocksCountLo: [0x04, 'u32le'],
  logBlockSize: [0x18, 'u32le'],
  magic: [0x38, 'u16le'],
  featureCompat: [0x5c, 'u32le'],
  featureIncompat: [0x60, 'u32le'],
  featureRoCompat: [0x64, 'u32le'],
  uuid: [0x68, 'bytes', 16],
  volumeName: [0x78, 'bytes', 16],
  blocksCountHi: [0x150, 'u32le'],
});

/** XFS superblock, at byte 0, big-endian ("XFS Algorithms & Data Structures", Superblocks). */
export const XFS_SUPERBLOCK = defineStruct('XFS superblock', 0x80, {
  magic: [0x00, 'ascii', 4],
  blockSize: [0x04, 'u32be'],
  dataBlocks: [0x08, 'u64be'],
  uuid: [0x20, 'bytes', 16],
  sectorSize: [0x66, 'u16be'],
  fname: [0x6c, 'bytes', 12],
});

/** btrfs superblock, primary copy at 64 KiB, little-endian (btrfs.readthedocs.io, On-disk Format: Superblock). */
export const BTRFS_SUPERBLOCK = defineStruct('btrfs superblock', 0x22b, {
  fsid: [0x20, 'bytes', 16],
  magic: [0x40, 'ascii', 8],
  totalBytes: [0x70, 'u64le'],
  sectorSize: [0x90, 'u32le'],
  label: [0x12b, 'bytes', 256],
});

/**
 * Linux swap header v1 after the 1024 bytes of boot bits (linux include/linux/swap.h, union swap_header).
 * Native byte order of the machine that ran mkswap: detect.ts reads version both ways.
 */
export const SWAP_HEADER = defineStruct('swap header', 1068, {
  versionLe: [1024, 'u32le'],
  versionBe: [1024, 'u32be'],
  lastPageLe: [1028, 'u32le'],
  lastPageBe: [1028, 'u32be'],
  uuid: [1036, 'bytes', 16],
  volumeName: [1052, 'bytes', 16],
});

/** LVM2 label header, in one of the first four 512-byte sectors (lvm2 source, lib/format_text/layout.h). */
export const LVM2_LABEL = defineStruct('LVM2 label header', 32, {
  id: [0x00, 'ascii', 8],
  sector: [0x08, 'u64le'],
  offset: [0x14, 'u32le'],
  type: [0x18, 'ascii', 8],
});

/** LVM2 pv_header, `offset` bytes into the label's sector (lvm2 layout.h): the PV UUID, then the device size. */
export const LVM2_PV_HEADER = defineStruct('LVM2 PV header', 40, {
  uuid: [0x00, 'ascii', 32],
  deviceSize: [0x20, 'u64le'],
});

/** ISO 9660 (ECMA-119) Primary Volume Descriptor, the descriptor at sector 16 (byte 32768). */
export const ISO_PVD = defineStruct('ISO 9660 volume descriptor', 132, {
  type: [0, 'u8'],
  standardId: [1, 'ascii', 5],
  version: [6, 'u8'],
  volumeId: [40, 'ascii', 32],
  spaceSizeLe: [80, 'u32le'],
  spaceSizeBe: [84, 'u32be'],
  blockSizeLe: [128, 'u16le'],
  blockSizeBe: [130, 'u16be'],
});
