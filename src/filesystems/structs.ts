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
  /** FAT32 only: the first cluster of the root directory (BPB_RootClus). */
  rootCluster: [0x2c, 'u32le'],
  signature: [0x1fe, 'u16le'],
});

/** The extended BPB, which sits at 0x24 on FAT12/16 and at 0x40 on FAT32 (fatgen103). Offsets from there. */
export const FAT_EXTENDED_BPB = defineStruct('FAT extended BPB', 26, {
  bootSignature: [0x02, 'u8'],
  volumeId: [0x03, 'u32le'],
  volumeLabel: [0x07, 'ascii', 11],
});

/**
 * NTFS boot sector (no public spec; layout per the Linux kernel ntfs3 driver / ntfs-3g, formats.md 8). Detection
 * uses the first group of fields; the root-directory walk (ntfs.ts) also needs the geometry after it.
 */
export const NTFS_BOOT = defineStruct('NTFS boot sector', 512, {
  oemId: [0x03, 'ascii', 8],
  bytesPerSector: [0x0b, 'u16le'],
  totalSectors: [0x28, 'u64le'],
  serialNumber: [0x48, 'u64le'],
  signature: [0x1fe, 'u16le'],
  /** 1..128; values above 0x80 give the size as a negative power of two (2^(256 - value)) on 4 KiB+ volumes. */
  sectorsPerCluster: [0x0d, 'u8'],
  mftCluster: [0x30, 'u64le'],
  /** A signed byte: positive, clusters per MFT record; negative, the record is 2^-value bytes. */
  clustersPerMftRecord: [0x40, 'u8'],
});

/**
 * Header of an MFT record ("FILE"). Both it and index blocks ("INDX") end each 512-byte stride with the update
 * sequence number, the real bytes kept in the update sequence array (usaOffset, usaCount = strides + 1).
 * `recordNumber` exists from NTFS 3.1 on, whose array sits at 0x30.
 */
export const NTFS_RECORD = defineStruct('NTFS MFT record header', 0x30, {
  magic: [0x00, 'ascii', 4],
  usaOffset: [0x04, 'u16le'],
  usaCount: [0x06, 'u16le'],
  sequence: [0x10, 'u16le'],
  attributesOffset: [0x14, 'u16le'],
  /** 0x01 in use, 0x02 a directory (it has a file-name index). */
  flags: [0x16, 'u16le'],
  bytesInUse: [0x18, 'u32le'],
  recordNumber: [0x2c, 'u32le'],
});

/** The header every attribute in a record starts with; type 0xFFFFFFFF ends the list. */
export const NTFS_ATTRIBUTE = defineStruct('NTFS attribute header', 0x10, {
  type: [0x00, 'u32le'],
  length: [0x04, 'u32le'],
  nonResident: [0x08, 'u8'],
  nameLength: [0x09, 'u8'],
  nameOffset: [0x0a, 'u16le'],
});

/** A resident attribute's value lies inside the record, at valueOffset from the attribute's start. */
export const NTFS_RESIDENT = defineStruct('NTFS resident attribute', 0x18, {
  valueLength: [0x10, 'u32le'],
  valueOffset: [0x14, 'u16le'],
});

/** A non-resident attribute's value lies in clusters, described by the data runs at runsOffset. */
export const NTFS_NON_RESIDENT = defineStruct('NTFS non-resident attribute', 0x40, {
  lowestVcn: [0x10, 'u64le'],
  runsOffset: [0x20, 'u16le'],
  dataSize: [0x30, 'u64le'],
});

/** The value of $INDEX_ROOT (0x90): what is indexed, the index block size, then an index header at 0x10. */
export const NTFS_INDEX_ROOT = defineStruct('NTFS index root', 0x10, {
  attributeType: [0x00, 'u32le'],
  indexBlockSize: [0x08, 'u32le'],
});

/** Index node header, in $INDEX_ROOT at 0x10 and in each index block at 0x18; offsets count from the header. */
export const NTFS_INDEX_HEADER = defineStruct('NTFS index header', 0x10, {
  entriesOffset: [0x00, 'u32le'],
  indexLength: [0x04, 'u32le'],
});

/** An index block of $INDEX_ALLOCATION ("INDX"): fixups as in a record, its own VCN, the node header at 0x18. */
export const NTFS_INDEX_BLOCK = defineStruct('NTFS index block header', 0x28, {
  magic: [0x00, 'ascii', 4],
  usaOffset: [0x04, 'u16le'],
  usaCount: [0x06, 'u16le'],
  vcn: [0x10, 'u64le'],
});

/**
 * A directory index entry: the file reference (record number in the low 48 bits, sequence in the top 16), the
 * entry and key lengths, flags (0x01 a sub-node VCN in the entry's last 8 bytes, 0x02 the node's last entry,
 * which carries no key). The key, a $FILE_NAME value, follows at 0x10.
 */
export const NTFS_INDEX_ENTRY = defineStruct('NTFS index entry', 0x10, {
  recordLow: [0x00, 'u32le'],
  recordHigh: [0x04, 'u16le'],
  sequence: [0x06, 'u16le'],
  length: [0x08, 'u16le'],
  keyLength: [0x0a, 'u16le'],
  flags: [0x0c, 'u16le'],
});

/**
 * A $FILE_NAME (0x30) value, as kept in a directory index key. fileAttributes 0x10000000 marks a directory;
 * namespace 0 POSIX, 1 Win32, 2 DOS, 3 both; the UTF-16LE name (nameLength characters) follows at 0x42.
 */
export const NTFS_FILE_NAME = defineStruct('NTFS file name', 0x42, {
  fileAttributes: [0x38, 'u32le'],
  nameLength: [0x40, 'u8'],
  namespace: [0x41, 'u8'],
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

/**
 * ext2/3/4 superblock, at byte 1024 of the volume (kernel.org "ext4 Data Structures and Algorithms", Super Block).
 * Detection uses the first group of fields; the path lookup (ext.ts) also needs the geometry after it.
 */
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
  inodesCount: [0x00, 'u32le'],
  /** 1 on 1 KiB-block volumes (block 0 holds the boot sector and superblock), else 0. */
  firstDataBlock: [0x14, 'u32le'],
  blocksPerGroup: [0x20, 'u32le'],
  inodesPerGroup: [0x28, 'u32le'],
  /** 0: the original format, with 128-byte inodes and no s_inode_size; 1: dynamic (s_inode_size is valid). */
  revLevel: [0x4c, 'u32le'],
  inodeSize: [0x58, 'u16le'],
  /** Group descriptor size when the 64bit incompat feature is set; 32 bytes without it. */
  descSize: [0xfe, 'u16le'],
});

/**
 * ext group descriptor, the 32-byte form every volume has (ext4 docs, Block Group Descriptors); the group
 * descriptor table starts in the block after the superblock's.
 */
export const EXT_GROUP_DESC = defineStruct('ext group descriptor', 32, {
  inodeTableLo: [0x08, 'u32le'],
});

/** The 64-byte descriptor of 64bit volumes adds the high halves; only the inode table's is needed. */
export const EXT_GROUP_DESC_64 = defineStruct('ext 64-bit group descriptor', 64, {
  inodeTableHi: [0x28, 'u32le'],
});

/**
 * The first 128 bytes of an ext inode, the part every inode size has (ext4 docs, Index Nodes). `block` is
 * i_block: an extent tree root, the classic block map, a fast symlink's target or inline data. `sizeHigh` was
 * i_dir_acl for directories on ext2/3; ext4 trusts it for directories only with the largedir feature.
 */
export const EXT_INODE = defineStruct('ext inode', 128, {
  mode: [0x00, 'u16le'],
  sizeLo: [0x04, 'u32le'],
  /** In 512-byte sectors (without the huge_file flag), file data and the xattr block together. */
  blocksLo: [0x1c, 'u32le'],
  flags: [0x20, 'u32le'],
  block: [0x28, 'bytes', 60],
  fileAclLo: [0x68, 'u32le'],
  sizeHigh: [0x6c, 'u32le'],
});

/** Large inodes (s_inode_size > 128) say how much of the rest is fields; in-inode xattrs follow those. */
export const EXT_INODE_EXTRA = defineStruct('ext inode extra', 132, {
  extraIsize: [0x80, 'u16le'],
});

/** Header of every extent-tree node, in i_block or a whole block (ext4 docs, Extent Tree). Magic 0xF30A. */
export const EXT_EXTENT_HEADER = defineStruct('ext extent header', 12, {
  magic: [0x00, 'u16le'],
  entries: [0x02, 'u16le'],
  max: [0x04, 'u16le'],
  depth: [0x06, 'u16le'],
});

/** An interior extent-tree entry: the first logical block it covers and the block of the node below. */
export const EXT_EXTENT_INDEX = defineStruct('ext extent index', 12, {
  block: [0x00, 'u32le'],
  leafLo: [0x04, 'u32le'],
  leafHi: [0x08, 'u16le'],
});

/** A leaf extent: `len` above 32768 marks an unwritten extent of len - 32768 blocks, which reads as zeros. */
export const EXT_EXTENT = defineStruct('ext extent', 12, {
  block: [0x00, 'u32le'],
  len: [0x04, 'u16le'],
  startHi: [0x06, 'u16le'],
  startLo: [0x08, 'u32le'],
});

/**
 * A linear directory entry (ext4 docs, Linear (Classic) Directories): ext4_dir_entry_2 when the filetype
 * feature is set (8-bit name length, then the type), else ext4_dir_entry (16-bit name length, no type).
 */
export const EXT_DIR_ENTRY = defineStruct('ext directory entry', 8, {
  inode: [0x00, 'u32le'],
  recLen: [0x04, 'u16le'],
  nameLen: [0x06, 'u8'],
  fileType: [0x07, 'u8'],
  nameLen16: [0x06, 'u16le'],
});

/**
 * An extended-attribute entry (ext4 docs, Extended Attributes). In the inode body the values' offsets count from
 * the first entry, which follows the 4-byte magic 0xEA020000; the inline_data feature keeps a file's bytes past
 * the first 60 in the value of "system.data" (name index 7, name "data").
 */
export const EXT_XATTR_ENTRY = defineStruct('ext xattr entry', 16, {
  nameLen: [0x00, 'u8'],
  nameIndex: [0x01, 'u8'],
  valueOffs: [0x02, 'u16le'],
  valueInum: [0x04, 'u32le'],
  valueSize: [0x08, 'u32le'],
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

/**
 * A FAT short (8.3) directory entry, 32 bytes (fatgen103, "FAT Directory Structure"). `ntCase` is the byte
 * fatgen103 reserves for Windows NT, which keeps the lower-case flags of a short name there (0x08 base, 0x10
 * extension). `firstClusterHigh` means something only on FAT32.
 */
export const FAT_DIR_ENTRY = defineStruct('FAT directory entry', 32, {
  name: [0x00, 'bytes', 11],
  attributes: [0x0b, 'u8'],
  ntCase: [0x0c, 'u8'],
  firstClusterHigh: [0x14, 'u16le'],
  firstClusterLow: [0x1a, 'u16le'],
  fileSize: [0x1c, 'u32le'],
});

/**
 * A VFAT long-name entry (fatgen103, "FAT Long Directory Entries"): 13 UCS-2 characters in three pieces, the
 * ordinal (0x40 marks the last piece, stored first) and the checksum of the short name it belongs to.
 */
export const FAT_LFN_ENTRY = defineStruct('FAT long-name entry', 32, {
  order: [0x00, 'u8'],
  name1: [0x01, 'bytes', 10],
  attributes: [0x0b, 'u8'],
  checksum: [0x0d, 'u8'],
  name2: [0x0e, 'bytes', 12],
  name3: [0x1c, 'bytes', 4],
});

/** MS-DOS header at the start of a PE image (Microsoft "PE Format", MS-DOS Stub): "MZ", then e_lfanew at 0x3C. */
export const DOS_HEADER = defineStruct('MS-DOS header', 0x40, {
  magic: [0x00, 'ascii', 2],
  peOffset: [0x3c, 'u32le'],
});

/** The PE signature "PE\0\0" and the COFF file header after it (Microsoft "PE Format", COFF File Header). */
export const PE_HEADER = defineStruct('PE header', 24, {
  signature: [0x00, 'bytes', 4],
  machine: [0x04, 'u16le'],
  sectionCount: [0x06, 'u16le'],
  optionalHeaderSize: [0x14, 'u16le'],
});

/**
 * LUKS primary header at byte 0, big-endian (cryptsetup "LUKS1 On-Disk Format Specification" and "LUKS2 On-Disk
 * Format"). The UUID sits at 0xA8 in both versions; the label exists in LUKS2 only.
 */
export const LUKS_HEADER = defineStruct('LUKS header', 0xd0, {
  magic: [0x00, 'bytes', 6],
  version: [0x06, 'u16be'],
  label: [0x18, 'bytes', 48],
  uuid: [0xa8, 'bytes', 40],
});

/**
 * BitLocker volume boot sector (libbde "BitLocker Drive Encryption (BDE) format"): "-FVE-FS-" replaces the OEM id
 * of Vista/7+ volumes; BitLocker To Go keeps a FAT32-looking "MSWIN4.1" sector and points at its FVE metadata.
 */
export const BITLOCKER_BOOT = defineStruct('BitLocker boot sector', 512, {
  jump: [0x00, 'bytes', 3],
  oemId: [0x03, 'ascii', 8],
  toGoMetadataOffset: [0x1b8, 'u64le'],
});

/**
 * JFS aggregate superblock at 32 KiB, little-endian (IBM JFS layout, linux fs/jfs/jfs_superblock.h): sizes are
 * given both plainly and as log2, which lets a probe check the two agree.
 */
export const JFS_SUPERBLOCK = defineStruct('JFS superblock', 0xa8, {
  magic: [0x00, 'ascii', 4],
  version: [0x04, 'u32le'],
  blockSize: [0x10, 'u32le'],
  log2BlockSize: [0x14, 'u16le'],
  log2BlockFactor: [0x16, 'u16le'],
  physicalBlockSize: [0x18, 'u32le'],
  log2PhysicalBlockSize: [0x1c, 'u16le'],
  uuid: [0x88, 'bytes', 16],
  label: [0x98, 'bytes', 16],
});
