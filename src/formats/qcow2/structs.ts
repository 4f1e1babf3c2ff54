/**
 * qcow2 on-disk structures (QEMU docs/interop/qcow2.txt). Every integer is big-endian.
 * Table entries (L1, L2, compressed descriptors) are bit fields, which field tables cannot express: their layouts
 * are the named masks below, read from the tables with DataView in the mapping code.
 */
import { defineStruct } from '../../struct/index.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"

/** "Header": the fields every version has (a version 2 header is exactly these 72 bytes). */
export const Header = defineStruct('qcow2 header', 72, {
  magic: [0, 'u32be'],
  version: [4, 'u32be'],
  backing_file_offset: [8, 'u64be'],
  backing_file_size: [16, 'u32be'],
  cluster_bits: [20, 'u32be'],
  size: [24, 'u64be'],
  crypt_method: [32, 'u32be'],
  l1_size: [36, 'u32be'],
  l1_table_offset: [40, 'u64be'],
  refcount_table_offset: [48, 'u64be'],
  refcount_table_clusters: [56, 'u32be'],
  nb_snapshots: [60, 'u32be'],
  snapshots_offset: [64, 'u64be'],
});

/** "Header", version 3 and higher: fields 72..103, decoded from the same buffer (offsets are from the file start). */
export const HeaderV3 = defineStruct('qcow2 v3 header', 104, {
  incompatible_features: [72, 'u64be'],
  compatible_features: [80, 'u64be'],
  autoclear_features: [88, 'u64be'],
  refcount_order: [96, 'u32be'],
  header_length: [100, 'u32be'],
});

/** "Additional fields": present only when header_length > 104. */
export const HeaderCompression = defineStruct('qcow2 header compression_type', 105, {
  compression_type: [104, 'u8'],
});

export const V2_HEADER_LENGTH = 72;
export const V3_MIN_HEADER_LENGTH = 104;

/** "Header extensions": type and length, then data padded to a multiple of 8. */
export const ExtensionHeader = defineStruct('qcow2 header extension', 8, {
  type: [0, 'u32be'],
  length: [4, 'u32be'],
});

export const ExtensionType = {
  end: 0x00000000,
  backingFormat: 0xe2792aca,
  featureNames: 0x6803f857,
  bitmaps: 0x23852875,
  fullDiskEncryption: 0x0537be77,
  externalDataFile: 0x44415441,
} as const;

/** "Feature name table": one 48-byte entry per named feature bit. */
export const FeatureNameEntry = defineStruct('qcow2 feature name entry', 48, {
  type: [0, 'u8'],
  bit: [1, 'u8'],
  name: [2, 'ascii', 46],
});

/** "incompatible_features" bits. */
export const Incompatible = {
  dirty: 1n << 0n,
  corrupt: 1n << 1n,
  externalDataFile: 1n << 2n,
  compressionType: 1n << 3n,
  extendedL2: 1n << 4n,
} as const;
export const KNOWN_INCOMPATIBLE = 0x1fn;

/** "compatible_features" bit 0. */
export const COMPATIBLE_LAZY_REFCOUNTS = 1n;

export const CryptMethod = { none: 0, aes: 1, luks: 2 } as const;
export const CompressionType = { zlib: 0, zstd: 1 } as const;

/** QEMU's implementation limits: clusters of 512 B to 2 MiB; extended L2 needs at least 16 KiB. */
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
export const MIN_EXTENDED_L2_CLUSTER_BITS = 14;
export const MAX_REFCOUNT_ORDER = 6;
/** "backing_file_size ... Must not be longer than 1023 bytes." */
export const MAX_BACKING_NAME = 1023;

/**
 * "Cluster mapping", entries as two big-endian 32-bit halves (hi = bits 32-63, lo = bits 0-31):
 * L1 entry: bits 9-55 L2 table offset, bit 63 copied, everything else reserved.
 * L2 entry: bit 63 copied, bit 62 compressed, bits 0-61 the cluster descriptor.
 * Standard descriptor: bit 0 reads-as-zero (v3 without extended L2), bits 9-55 host offset, 1-8 and 56-61 reserved.
 * Extended L2 entries add a second 64-bit word: bits 0-31 subcluster allocated, bits 32-63 subcluster reads as zero.
 */
export const Entry = {
  hiCopied: 0x80000000,
  hiCompressed: 0x40000000,
  hiOffset: 0x00ffffff,
  loOffset: 0xfffffe00,
  l1HiReserved: 0x7f000000,
  l1LoReserved: 0x000001ff,
  l2HiReserved: 0x3f000000,
  l2LoReserved: 0x000001fe,
  loZero: 0x00000001,
} as const;

export const STANDARD_L2_ENTRY = 8;
export const EXTENDED_L2_ENTRY = 16;
export const SUBCLUSTERS = 32;
