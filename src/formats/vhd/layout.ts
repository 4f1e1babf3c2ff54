/**
 * What the VHD writer puts on disk besides the guest data: the size policy, the footer and the dynamic disk header
 * (formats.md 2.2, 2.3), encoded from the same field tables the reader decodes with.
 *
 * The footer is the one `qemu-img convert -O vpc -o force_size=on` writes: creator "qem2" and the maximum CHS
 * geometry, so every reader takes the size from currentSize and sees exactly the source's size. qemu 7.2 does so for
 * either reason (its creator list and its maximum-geometry rule), Hyper-V, Azure and VirtualBox always read
 * currentSize, and so does our reader (footer.ts). Only Virtual PC, which reads CHS alone, would see a 127 GiB disk.
 */
import { randomUUID } from 'node:crypto';
import { DiskError } from '../../errors.js';
import { vhdChecksum } from './footer.js';
import {
  DYNAMIC_HEADER,
  DiskType,
  FEATURES_RESERVED,
  FILE_FORMAT_VERSION,
  FOOTER,
  FOOTER_COOKIE,
  HEADER_COOKIE,
  HEADER_VERSION,
  MAX_GEOMETRY,
  NO_DATA_OFFSET,
  SECTOR,
  SPEC_MAX_SIZE,
} from './structs.js';

/** Block size of dynamic disks: the spec's default, what qemu-img and Hyper-V write. */
export const BLOCK_SIZE = 2 * 1024 * 1024;
/** One bit per sector of a block: 4096 bits, exactly one sector. */
export const BITMAP_SIZE = Math.ceil(BLOCK_SIZE / SECTOR / 8 / SECTOR) * SECTOR;

/** The creator qemu-img writes with force_size=on; its version field says Virtual PC 2007 (5.3), as qemu's does. */
const CREATOR_APPLICATION = 'qem2';
const CREATOR_VERSION = 0x00050003;
const CREATOR_HOST_OS = 'Wi2k';

const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

/**
 * The disk size a VHD of `virtualSize` guest bytes records: VHD counts whole sectors, so a size that is not a
 * multiple of 512 rounds up to the next sector (the added bytes read as zeros). Over 2040 GiB, the spec's and
 * qemu's maximum, the disk cannot be a VHD at all.
 */
export function vhdDiskSize(virtualSize: number, file: string): number {
  const diskSize = Math.ceil(virtualSize / SECTOR) * SECTOR;
  if (diskSize > SPEC_MAX_SIZE) throw tooLarge(`${virtualSize} bytes`, file);
  return diskSize;
}

/** The refusal of a disk past the maximum; `size` says how big it is ("N bytes", or "over N bytes" mid-stream). */
export function tooLarge(size: string, file: string): DiskError {
  return new DiskError(
    'UNSUPPORTED_FEATURE',
    `the disk is ${size} and a VHD holds at most 2040 GiB (${SPEC_MAX_SIZE} bytes): write VHDX or RAW instead`,
    { file },
  );
}

/** What the two footer copies of one output share: its identity, fixed once per write. */
export interface FooterIdentity {
  readonly uniqueId: string;
  /** Seconds since 2000-01-01 00:00:00 UTC. */
  readonly timeStamp: number;
}

export function newIdentity(): FooterIdentity {
  return { uniqueId: randomUUID().toUpperCase(), timeStamp: Math.floor((Date.now() - VHD_EPOCH_MS) / 1000) >>> 0 };
}

export interface FooterFields {
  readonly diskType: typeof DiskType.fixed | typeof DiskType.dynamic;
  /** Bytes, a multiple of 512 (vhdDiskSize). */
  readonly diskSize: number;
  /** Offset of the dynamic header; undefined for a fixed disk. */
  readonly headerOffset: number | undefined;
  readonly identity: FooterIdentity;
}

/** The 512-byte footer, checksum included. */
export function encodeFooter(fields: FooterFields): Uint8Array {
  const size = BigInt(fields.diskSize);
  const bytes = FOOTER.encode({
    cookie: Buffer.from(FOOTER_COOKIE, 'latin1'),
    features: FEATURES_RESERVED,
    fileFormatVersion: FILE_FORMAT_VERSION,
    dataOffset: fields.headerOffset === undefined ? NO_DATA_OFFSET : BigInt(fields.headerOffset),
    timeStamp: fields.identity.timeStamp,
    creatorApplication: Buffer.from(CREATOR_APPLICATION, 'latin1'),
    creatorVersion: CREATOR_VERSION,
    creatorHostOs: Buffer.from(CREATOR_HOST_OS, 'latin1'),
    originalSize: size,
    currentSize: size,
    ...MAX_GEOMETRY,
    diskType: fields.diskType,
    uniqueId: fields.identity.uniqueId,
  });
  return FOOTER.encode({ checksum: vhdChecksum(bytes, FOOTER.offsetOf('checksum')) }, bytes);
}

/**
 * Where a dynamic disk's structures go, as qemu-img places them: footer copy at 0, dynamic header at 512, BAT at
 * 1536 padded to whole sectors, then the blocks (each a sector bitmap and BLOCK_SIZE bytes) in the order written.
 */
export interface DynamicLayout {
  readonly headerOffset: number;
  readonly tableOffset: number;
  readonly tableEntries: number;
  /** The BAT's bytes on disk, padded to whole sectors. */
  readonly tableBytes: number;
  readonly firstBlockOffset: number;
}

export function dynamicLayout(diskSize: number): DynamicLayout {
  const headerOffset = FOOTER.size;
  const tableOffset = headerOffset + DYNAMIC_HEADER.size;
  const tableEntries = Math.ceil(diskSize / BLOCK_SIZE);
  // 2040 GiB makes 1,044,480 entries (4 MiB), far under Limits.maxTableBytes; the largest block offset,
  // under 0xFF200000 sectors, stays clear of 0xFFFFFFFF (BAT_UNUSED).
  const tableBytes = Math.ceil((tableEntries * 4) / SECTOR) * SECTOR;
  return { headerOffset, tableOffset, tableEntries, tableBytes, firstBlockOffset: tableOffset + tableBytes };
}

/** The 1024-byte dynamic disk header, checksum included; no parent (not a differencing disk). */
export function encodeDynamicHeader(layout: DynamicLayout): Uint8Array {
  const bytes = DYNAMIC_HEADER.encode({
    cookie: Buffer.from(HEADER_COOKIE, 'latin1'),
    dataOffset: NO_DATA_OFFSET,
    tableOffset: BigInt(layout.tableOffset),
    headerVersion: HEADER_VERSION,
    maxTableEntries: layout.tableEntries,
    blockSize: BLOCK_SIZE,
  });
  return DYNAMIC_HEADER.encode({ checksum: vhdChecksum(bytes, DYNAMIC_HEADER.offsetOf('checksum')) }, bytes);
}
