/**
 * VHD on-disk structures (Microsoft "Virtual Hard Disk Image Format Specification" v1.0; formats.md section 2).
 * Every integer is big-endian.
 */
import { defineStruct } from '../../struct/index.js';

/** Hard disk footer (spec "Hard Disk Footer Format"; formats.md 2.2). 512 bytes; 511 in pre-2004 products. */
export const FOOTER = defineStruct('footer', 512, {
  cookie: [0x00, 'bytes', 8],
  features: [0x08, 'u32be'],
  fileFormatVersion: [0x0c, 'u32be'],
  dataOffset: [0x10, 'u64be'],
  timeStamp: [0x18, 'u32be'],
  creatorApplication: [0x1c, 'bytes', 4],
  creatorVersion: [0x20, 'u32be'],
  creatorHostOs: [0x24, 'bytes', 4],
  originalSize: [0x28, 'u64be'],
  currentSize: [0x30, 'u64be'],
  cylinders: [0x38, 'u16be'],
  heads: [0x3a, 'u8'],
  sectorsPerTrack: [0x3b, 'u8'],
  diskType: [0x3c, 'u32be'],
  checksum: [0x40, 'u32be'],
  uniqueId: [0x44, 'guid'],
  savedState: [0x54, 'u8'],
});

/** Dynamic disk header (spec "Dynamic Disk Header Format"; formats.md 2.3). 1024 bytes at footer.dataOffset. */
export const DYNAMIC_HEADER = defineStruct('dynamicHeader', 1024, {
  cookie: [0x000, 'bytes', 8],
  dataOffset: [0x008, 'u64be'],
  tableOffset: [0x010, 'u64be'],
  headerVersion: [0x018, 'u32be'],
  maxTableEntries: [0x01c, 'u32be'],
  blockSize: [0x020, 'u32be'],
  checksum: [0x024, 'u32be'],
  parentUniqueId: [0x028, 'guid'],
  parentTimeStamp: [0x038, 'u32be'],
  parentUnicodeName: [0x040, 'utf16be', 512],
});

/** One of the eight parent locator entries at dynamicHeader + 0x240 (spec "Parent Locator Entries"). */
export const PARENT_LOCATOR = defineStruct('parentLocator', 24, {
  platformCode: [0x00, 'bytes', 4],
  platformDataSpace: [0x04, 'u32be'],
  platformDataLength: [0x08, 'u32be'],
  platformDataOffset: [0x10, 'u64be'],
});
export const PARENT_LOCATORS_AT = 0x240;
export const PARENT_LOCATOR_COUNT = 8;

export const FOOTER_COOKIE = 'conectix';
export const HEADER_COOKIE = 'cxsparse';
export const FILE_FORMAT_VERSION = 0x00010000;
export const HEADER_VERSION = 0x00010000;

export const DiskType = { fixed: 2, dynamic: 3, differencing: 4 } as const;

/** A BAT entry with this value maps no block. */
export const BAT_UNUSED = 0xffffffff;
export const SECTOR = 512;

/**
 * Largest block size accepted. The spec's tools use 512 KiB or 2 MiB; 256 MiB leaves room for odd writers while
 * keeping one block's sector bitmap (64 KiB) and a block-sized read bounded.
 */
export const MAX_BLOCK_SIZE = 256 * 1024 * 1024;

/** qemu's limit, from the spec: 2040 GiB (0xFF000000 sectors). Reported, not enforced (Limits.maxVirtualSize is). */
export const SPEC_MAX_SIZE = 0xff000000 * SECTOR;

/** footer.features: bit 1 is reserved and must always be set (spec "Features"). */
export const FEATURES_RESERVED = 0x00000002;
/** footer.dataOffset of a fixed disk, and dynamicHeader.dataOffset (unused): all 64 bits set, as MS tools expect. */
export const NO_DATA_OFFSET = 0xffffffffffffffffn;
/** The largest CHS geometry, 65535 x 16 x 255: qemu and Hyper-V then take the size from currentSize. */
export const MAX_GEOMETRY = { cylinders: 65535, heads: 16, sectorsPerTrack: 255 } as const;
