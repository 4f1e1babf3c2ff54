/**
 * VMDK on-disk structures (VMware "Virtual Disk Format 5.0"; diskport reference formats.md section 1).
 * Every integer is little-endian. Offsets and sizes in these structs count 512-byte sectors unless named *Bytes.
 */
import { defineStruct } from '../../struct/index.js';

export const SECTOR = 512;

/** "KDMV" read as the first four bytes of a hosted sparse extent (formats.md 1.2). */
export const SPARSE_MAGIC = Uint8Array.of(0x4b, 0x44, 0x4d, 0x56);
/** "COWD": the ESX vmfsSparse extent header, which diskport does not read (formats.md 1.1). */
export const COWD_MAGIC = Uint8Array.of(0x43, 0x4f, 0x57, 0x44);

/** gdOffset value meaning "the grain directory is found through the footer" (formats.md 1.2, 1.6). */
export const GD_AT_END = 0xffffffffffffffffn;

/** SparseExtentHeader flag bits (formats.md 1.2). */
export const Flags = {
  validNewlineTest: 1 << 0,
  redundantGrainTable: 1 << 1,
  zeroedGrainGte: 1 << 2,
  compressedGrains: 1 << 16,
  markers: 1 << 17,
} as const;

/** The bytes a binary transfer leaves intact and a text-mode (FTP ASCII) transfer rewrites. */
export const NEWLINE_TEST = Uint8Array.of(0x0a, 0x20, 0x0d, 0x0a);

export const COMPRESSION_DEFLATE = 1;

/** SparseExtentHeader, 512 bytes at file offset 0 (formats.md 1.2); the streamOptimized footer is a copy of it. */
export const SparseExtentHeader = defineStruct('SparseExtentHeader', SECTOR, {
  magic: [0x00, 'bytes', 4],
  version: [0x04, 'u32le'],
  flags: [0x08, 'u32le'],
  capacity: [0x0c, 'u64le'],
  grainSize: [0x14, 'u64le'],
  descriptorOffset: [0x1c, 'u64le'],
  descriptorSize: [0x24, 'u64le'],
  numGTEsPerGT: [0x2c, 'u32le'],
  rgdOffset: [0x30, 'u64le'],
  gdOffset: [0x38, 'u64le'],
  overHead: [0x40, 'u64le'],
  uncleanShutdown: [0x48, 'u8'],
  newlineTest: [0x49, 'bytes', 4],
  compressAlgorithm: [0x4d, 'u16le'],
});

/** The start of a compressed grain: which guest sector it holds and how many zlib bytes follow (formats.md 1.6). */
export const GrainMarker = defineStruct('GrainMarker', 12, {
  lba: [0x00, 'u64le'],
  size: [0x08, 'u32le'],
});

/** A metadata marker sector: `size` 0 tells it from a grain marker (formats.md 1.6). */
export const MetadataMarker = defineStruct('MetadataMarker', SECTOR, {
  numSectors: [0x00, 'u64le'],
  size: [0x08, 'u32le'],
  type: [0x0c, 'u32le'],
});

export const MarkerType = {
  endOfStream: 0,
  grainTable: 1,
  grainDirectory: 2,
  footer: 3,
} as const;
