/**
 * GUID Partition Table (UEFI 2.10 section 5.3): the primary header at LBA 1, the backup at the last LBA, each
 * with its entry array. A header is used only when every check of section 5.3.2 passes; damage is reported as
 * problems, and only the image's own read errors escape.
 */
import * as zlib from 'node:zlib';
import type { DiskImage } from '../image/types.js';
import { Limits } from '../limits.js';
import type { Partition, Problem } from './index.js';
import { GPT_SIGNATURE, GptHeader, GptPartitionEntry } from './structs.js';

export type SectorSize = 512 | 4096;

export const ESP_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const BIOS_BOOT_GUID = '21686148-6449-6E6F-744E-656564454649';
const UNUSED_GUID = '00000000-0000-0000-0000-000000000000';

const TYPE_NAMES: Record<string, string> = {
  [ESP_GUID]: 'EFI System',
  [BIOS_BOOT_GUID]: 'BIOS boot',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
};

/** Bounds the entry array: more entries than this is not a real disk (the usual count is 128). */
export const MAX_ENTRIES = 1024;
/** Largest SizeOfPartitionEntry accepted; it must also be 128 x 2^n (UEFI 2.10 section 5.3.2). */
const MAX_ENTRY_SIZE = 4096;
/** Attribute bit 2: Legacy BIOS Bootable (UEFI 2.10 section 5.3.3). */
const LEGACY_BIOS_BOOTABLE = 1n << 2n;
const HEADER_CRC_OFFSET = GptHeader.offsetOf('headerCrc32');

export interface GptResult {
  readonly sectorSize: SectorSize;
  readonly partitions: Partition[];
  /** False when neither header (with its entry array) passed the checks. */
  readonly valid: boolean;
}

type HeaderCheck = { ok: true; header: ReturnType<typeof GptHeader.decode>; entries: Uint8Array } | { ok: false; reason: string };

/**
 * Looks for "EFI PART" at LBA 1 and at the last LBA, for 512- then 4096-byte sectors. Undefined when no header
 * signature is found anywhere (not a GPT disk).
 */
export async function readGpt(image: DiskImage, diskSize: number, problems: Problem[]): Promise<GptResult | undefined> {
  const sectorSize = await findSectorSize(image, diskSize);
  if (sectorSize === undefined) return undefined;
  const lastLba = Math.floor(diskSize / sectorSize) - 1;

  const primary = await readHeader(image, 1, sectorSize, lastLba);
  if (primary.ok) return { sectorSize, partitions: toPartitions(primary, sectorSize, problems), valid: true };

  // UEFI 2.10 section 5.3.2: with a bad primary, the backup at the last LBA is checked; the damaged primary's
  // AlternateLBA cannot be trusted.
  const backup = await readHeader(image, lastLba, sectorSize, lastLba);
  if (backup.ok) {
    problems.push({ code: 'GPT_PRIMARY_DAMAGED', message: `primary GPT header unusable (${primary.reason}); the backup at LBA ${lastLba} is used` });
    return { sectorSize, partitions: toPartitions(backup, sectorSize, problems), valid: true };
  }
  problems.push({ code: 'GPT_DAMAGED', message: `both GPT headers are unusable: primary ${primary.reason}; backup ${backup.reason}` });
  return { sectorSize, partitions: [], valid: false };
}

async function findSectorSize(image: DiskImage, diskSize: number): Promise<SectorSize | undefined> {
  const sizes: SectorSize[] = [512, 4096];
  for (const sectorSize of sizes) {
    if (await hasSignature(image, sectorSize, diskSize)) return sectorSize;
  }
  for (const sectorSize of sizes) {
    if (await hasSignature(image, diskSize - (diskSize % sectorSize) - sectorSize, diskSize)) return sectorSize;
  }
  return undefined;
}

async function hasSignature(image: DiskImage, offset: number, diskSize: number): Promise<boolean> {
  if (offset < 0 || offset + GPT_SIGNATURE.length > diskSize) return false;
  const bytes = await image.read(offset, GPT_SIGNATURE.length);
  return Buffer.from(bytes).toString('latin1') === GPT_SIGNATURE;
}

/** Reads the header at `lba` and its entry array, running every check; a reason when one fails. */
async function readHeader(image: DiskImage, lba: number, sectorSize: SectorSize, lastLba: number): Promise<HeaderCheck> {
  if (lba < 1 || lba > lastLba) return { ok: false, reason: `LBA ${lba} is outside the disk` };
  const block = await image.read(lba * sectorSize, sectorSize);
  const header = GptHeader.decode(block);
  const problem = checkHeader(header, block, lba, sectorSize, lastLba);
  if (problem !== undefined) return { ok: false, reason: problem };
  const entryBytes = header.numberOfPartitionEntries * header.sizeOfPartitionEntry;
  const entries =
    entryBytes === 0 ? new Uint8Array(0) : await image.read(Number(header.partitionEntryLba) * sectorSize, entryBytes);
  if (crc32(entries) !== header.partitionEntryArrayCrc32) {
    return { ok: false, reason: 'PartitionEntryArrayCRC32 does not match the entry array' };
  }
  return { ok: true, header, entries };
}

/** The checks of UEFI 2.10 section 5.3.2 plus our bounds on the entry array; undefined when all pass. */
function checkHeader(
  header: ReturnType<typeof GptHeader.decode>,
  block: Uint8Array,
  lba: number,
  sectorSize: SectorSize,
  lastLba: number,
): string | undefined {
  if (header.signature !== GPT_SIGNATURE) return 'no "EFI PART" signature';
  if (header.headerSize < GptHeader.size || header.headerSize > sectorSize) return `HeaderSize ${header.headerSize} is not 92..${sectorSize}`;
  if (headerCrc(block, header.headerSize) !== header.headerCrc32) return 'HeaderCRC32 does not match';
  if (header.myLba !== BigInt(lba)) return `MyLBA ${header.myLba} is not ${lba}`;
  const last = BigInt(lastLba);
  if (header.firstUsableLba > header.lastUsableLba || header.lastUsableLba > last) {
    return `usable LBAs ${header.firstUsableLba}..${header.lastUsableLba} are not inside the disk`;
  }
  const { numberOfPartitionEntries: count, sizeOfPartitionEntry: size } = header;
  if (count > MAX_ENTRIES) return `NumberOfPartitionEntries ${count} exceeds ${MAX_ENTRIES}`;
  if (!isEntrySize(size)) return `SizeOfPartitionEntry ${size} is not 128 x 2^n up to ${MAX_ENTRY_SIZE}`;
  const bytes = count * size;
  if (bytes > Limits.maxTableBytes) return `the entry array of ${bytes} bytes exceeds ${Limits.maxTableBytes}`;
  const arrayEnd = header.partitionEntryLba + BigInt(Math.ceil(bytes / sectorSize));
  if (header.partitionEntryLba < 1n || arrayEnd > last + 1n) return `the entry array at LBA ${header.partitionEntryLba} is not inside the disk`;
  return undefined;
}

function isZero(bytes: Uint8Array, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function isEntrySize(size: number): boolean {
  for (let candidate = 128; candidate <= MAX_ENTRY_SIZE; candidate *= 2) if (size === candidate) return true;
  return false;
}

/** HeaderCRC32 is computed over HeaderSize bytes with the CRC field itself zeroed. */
function headerCrc(block: Uint8Array, headerSize: number): number {
  const copy = block.slice(0, headerSize);
  copy.fill(0, HEADER_CRC_OFFSET, HEADER_CRC_OFFSET + 4);
  return crc32(copy);
}

/** Entries in use (non-zero type GUID) that lie inside the usable LBAs; the others become problems. */
function toPartitions(check: Extract<HeaderCheck, { ok: true }>, sectorSize: SectorSize, problems: Problem[]): Partition[] {
  const { header, entries } = check;
  const partitions: Partition[] = [];
  for (let i = 0; i < header.numberOfPartitionEntries; i++) {
    const at = i * header.sizeOfPartitionEntry;
    // Most of the 128 entries are unused: test the raw type GUID before decoding (which formats GUIDs and names).
    if (isZero(entries, at, 16)) continue;
    const entry = GptPartitionEntry.decode(entries, at);
    if (entry.partitionTypeGuid === UNUSED_GUID) continue;
    // checkHeader has already placed LastUsableLBA inside the disk.
    const { firstUsableLba: first, lastUsableLba: last } = header;
    if (entry.startingLba > entry.endingLba || entry.startingLba < first || entry.endingLba > last) {
      problems.push({
        code: 'PARTITION_OUT_OF_RANGE',
        message: `GPT entry ${i + 1} (LBA ${entry.startingLba}..${entry.endingLba}) is not inside the usable LBAs ${first}..${last}`,
      });
      continue;
    }
    partitions.push(toPartition(i + 1, entry, sectorSize));
  }
  return partitions;
}

function toPartition(index: number, entry: ReturnType<typeof GptPartitionEntry.decode>, sectorSize: SectorSize): Partition {
  // Checked against the disk's last LBA above, so both fit a JS number exactly.
  const startLba = Number(entry.startingLba);
  const lbas = Number(entry.endingLba - entry.startingLba) + 1;
  const typeName = TYPE_NAMES[entry.partitionTypeGuid];
  return {
    index,
    start: startLba * sectorSize,
    size: lbas * sectorSize,
    type: entry.partitionTypeGuid,
    ...(typeName === undefined ? {} : { typeName }),
    ...(entry.partitionName === '' ? {} : { name: entry.partitionName }),
    bootable: (entry.attributes & LEGACY_BIOS_BOOTABLE) !== 0n,
  };
}

/** CRC-32/IEEE, as GPT uses. node:zlib has it from Node 20.15; older runtimes get the table version below. */
export function crc32(bytes: Uint8Array): number {
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  return typeof native === 'function' ? native(bytes) : crc32Table(bytes);
}

/** Built on first use; only runtimes without zlib.crc32 need it. */
let table: Uint32Array | undefined;

export function crc32Table(bytes: Uint8Array): number {
  table ??= makeTable();
  let crc = 0xffffffff;
  for (const byte of bytes) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The reflected table for polynomial 0xEDB88320. */
function makeTable(): Uint32Array {
  const out = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    out[n] = c >>> 0;
  }
  return out;
}
