/**
 * What both VMDK subformats share when written (write.ts): grain and table geometry, the sparse header built from the
 * reader's own struct table, the embedded descriptor, table encoding.
 */
import { randomBytes } from 'node:crypto';
import { DiskError } from '../../errors.js';
import { COMPRESSION_DEFLATE, Flags, NEWLINE_TEST, SECTOR, SPARSE_MAGIC, SparseExtentHeader } from './structs.js';

export type VmdkSubformat = 'streamOptimized' | 'monolithicSparse';

/** 128 sectors: the grain size every VMware and qemu writer uses. */
export const GRAIN_SECTORS = 128;
export const GRAIN_BYTES = GRAIN_SECTORS * SECTOR;
/** Grain table entries per table: 512, so one table covers 32 MiB. */
export const GTES_PER_GT = 512;
export const GT_BYTES = GTES_PER_GT * 4;
/** The embedded descriptor starts at sector 1 and has room for 20 sectors, like qemu's (room for edits in place). */
const DESCRIPTOR_SECTOR = 1;
const DESCRIPTOR_SECTORS = 20;
/**
 * VMware's largest virtual disk (62 TiB). Grain-table entries are 32-bit sector numbers, so the extent FILE is also
 * capped at 2 TiB; the writers check that as they go.
 */
const MAX_CAPACITY_BYTES = 62 * 2 ** 40;
export const MAX_FILE_SECTORS = 2 ** 32 - 1;

export interface SparseLayout {
  readonly subformat: VmdkSubformat;
  /** Guest size in sectors (a size that is not a multiple of 512 is rounded up to the next sector). */
  readonly capacity: number;
  /** Grain-directory entries: one per 32 MiB of capacity. */
  readonly gdEntries: number;
  /** The embedded descriptor, NUL-padded to DESCRIPTOR_SECTORS sectors. */
  readonly descriptor: Uint8Array;
}

export function sparseLayout(virtualSize: number, subformat: VmdkSubformat): SparseLayout {
  if (virtualSize > MAX_CAPACITY_BYTES) {
    throw new DiskError('LIMIT_EXCEEDED', `a ${virtualSize}-byte disk is larger than a VMDK can hold (${MAX_CAPACITY_BYTES} bytes, 62 TiB)`, {
      format: 'vmdk',
    });
  }
  const capacity = Math.ceil(virtualSize / SECTOR);
  return {
    subformat,
    capacity,
    gdEntries: Math.ceil(capacity / (GTES_PER_GT * GRAIN_SECTORS)),
    descriptor: descriptorBytes(capacity, subformat),
  };
}

/**
 * The 512-byte header. streamOptimized: version 3, compressed grains with markers, and gdOffset GD_AT_END in the
 * header (the footer carries the real one); monolithicSparse: version 1 with the grain directory's sector.
 */
export function encodeHeader(layout: SparseLayout, gdSector: bigint, overHead: number): Uint8Array {
  const stream = layout.subformat === 'streamOptimized';
  return SparseExtentHeader.encode({
    magic: SPARSE_MAGIC,
    version: stream ? 3 : 1,
    flags: Flags.validNewlineTest | (stream ? Flags.compressedGrains | Flags.markers : 0),
    capacity: BigInt(layout.capacity),
    grainSize: BigInt(GRAIN_SECTORS),
    descriptorOffset: BigInt(DESCRIPTOR_SECTOR),
    descriptorSize: BigInt(DESCRIPTOR_SECTORS),
    numGTEsPerGT: GTES_PER_GT,
    rgdOffset: 0n,
    gdOffset: gdSector,
    overHead: BigInt(overHead),
    uncleanShutdown: 0,
    newlineTest: NEWLINE_TEST,
    compressAlgorithm: stream ? COMPRESSION_DEFLATE : 0,
  });
}

/** Header, then the descriptor: the first DESCRIPTOR_SECTOR + DESCRIPTOR_SECTORS sectors of the file. */
export function headerAndDescriptor(layout: SparseLayout, gdSector: bigint, overHead: number): Uint8Array {
  const bytes = new Uint8Array((DESCRIPTOR_SECTOR + DESCRIPTOR_SECTORS) * SECTOR);
  bytes.set(encodeHeader(layout, gdSector, overHead));
  bytes.set(layout.descriptor, DESCRIPTOR_SECTOR * SECTOR);
  return bytes;
}

/** Sectors before the descriptor area ends. */
export const DESCRIPTOR_END_SECTOR = DESCRIPTOR_SECTOR + DESCRIPTOR_SECTORS;

/**
 * The descriptor VMware tools write for a single-extent disk: a random CID, no parent, the one extent (the file
 * itself, named "disk.vmdk": readers of a monolithic file use the file, not the name), an LSI Logic adapter and its
 * BIOS geometry (255 heads, 63 sectors).
 */
function descriptorBytes(capacity: number, subformat: VmdkSubformat): Uint8Array {
  const cylinders = Math.min(65535, Math.ceil(capacity / (255 * 63)));
  const text = [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    `CID=${randomBytes(4).toString('hex')}`,
    'parentCID=ffffffff',
    `createType="${subformat}"`,
    '',
    '# Extent description',
    `RW ${capacity} SPARSE "disk.vmdk"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"',
    'ddb.adapterType = "lsilogic"',
    `ddb.geometry.cylinders = "${cylinders}"`,
    'ddb.geometry.heads = "255"',
    'ddb.geometry.sectors = "63"',
    '',
  ].join('\n');
  const bytes = new Uint8Array(DESCRIPTOR_SECTORS * SECTOR);
  bytes.set(Buffer.from(text, 'utf8'));
  return bytes;
}

/** Table entries (GD, GT) as little-endian bytes. */
export function littleEndian(entries: Uint32Array): Uint8Array {
  const bytes = new Uint8Array(entries.length * 4);
  const view = new DataView(bytes.buffer);
  entries.forEach((entry, index) => view.setUint32(index * 4, entry, true));
  return bytes;
}

/** The bytes zero-padded to whole sectors. */
export function sectorPadded(bytes: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(bytes.length / SECTOR) * SECTOR);
  padded.set(bytes);
  return padded;
}
