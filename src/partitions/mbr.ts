/**
 * Legacy MBR (UEFI 2.10 section 5.2.1) and the extended-partition chain of EBRs. A damaged or hostile table
 * becomes problem entries; only the image's own read errors escape.
 */
import type { DiskImage } from '../image/types.js';
import type { Partition, Problem } from './index.js';
import { MasterBootRecord, MBR_SIGNATURE, MbrPartitionRecord } from './structs.js';

/** MBR tables address 512-byte sectors (the format predates other sector sizes on the disks we read). */
export const MBR_SECTOR = 512;
/** OSType of the protective MBR record that covers a GPT disk (UEFI 2.10 section 5.2.3). */
export const PROTECTIVE_TYPE = 0xee;
/** OSType of an MBR-style EFI System Partition. */
export const EFI_SYSTEM_TYPE = 0xef;
/** Types whose record points at a chain of EBRs rather than at data. */
const EXTENDED_TYPES = new Set([0x05, 0x0f, 0x85]);
/** Most EBRs followed: a chain longer than this is hostile or broken, and each link costs a read. */
export const MAX_LOGICAL_PARTITIONS = 128;
/** Logical partitions are numbered after the four primary slots, as Linux and sfdisk do. */
const FIRST_LOGICAL_INDEX = 5;

const TYPE_NAMES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16',
  0x05: 'extended',
  0x06: 'FAT16',
  0x07: 'NTFS/exFAT',
  0x0b: 'FAT32',
  0x0c: 'FAT32',
  0x0e: 'FAT16',
  0x0f: 'extended',
  0x82: 'Linux swap',
  0x83: 'Linux',
  0x85: 'extended',
  0x8e: 'Linux LVM',
  0xee: 'GPT protective',
  0xef: 'EFI System',
};

export interface MbrRecord {
  /** Slot 1..4. */
  readonly slot: number;
  readonly bootIndicator: number;
  readonly osType: number;
  readonly startingLba: number;
  readonly sizeInLba: number;
}

export interface ParsedMbr {
  /** The records in use (OSType and size non-zero). */
  readonly records: MbrRecord[];
  /** True when the first 440 bytes (boot code) are not all zero: something for a BIOS to run. */
  readonly hasBootCode: boolean;
}

/** Decodes LBA 0; undefined when the 55 AA signature is missing (no MBR at all). */
export function parseMbr(sector: Uint8Array): ParsedMbr | undefined {
  const mbr = MasterBootRecord.decode(sector);
  if (mbr.signature !== MBR_SIGNATURE) return undefined;
  return { records: usedRecords(mbr.partitionRecords), hasBootCode: mbr.bootCode.some((b) => b !== 0) };
}

function usedRecords(table: Uint8Array): MbrRecord[] {
  const records: MbrRecord[] = [];
  for (let i = 0; i < 4; i++) {
    const r = MbrPartitionRecord.decode(table, i * MbrPartitionRecord.size);
    // UEFI: OSType 0 marks an unused record; a zero size describes no space either.
    if (r.osType === 0 || r.sizeInLba === 0) continue;
    records.push({ slot: i + 1, bootIndicator: r.bootIndicator, osType: r.osType, startingLba: r.startingLba, sizeInLba: r.sizeInLba });
  }
  return records;
}

export function mbrTypeString(osType: number): string {
  return `0x${osType.toString(16).padStart(2, '0')}`;
}

export function isProtective(mbr: ParsedMbr): boolean {
  return mbr.records.some((r) => r.osType === PROTECTIVE_TYPE);
}

/** A hybrid MBR carries the 0xEE record plus others, which UEFI says must be zero. */
export function isHybrid(mbr: ParsedMbr): boolean {
  return isProtective(mbr) && mbr.records.some((r) => r.osType !== PROTECTIVE_TYPE);
}

/** The primary records, then every logical partition found through the extended partitions' EBR chains. */
export async function readMbrPartitions(
  image: DiskImage,
  mbr: ParsedMbr,
  diskSize: number,
  problems: Problem[],
): Promise<Partition[]> {
  const partitions: Partition[] = [];
  const chain = new EbrChain(image, diskSize, problems);
  for (const record of mbr.records) {
    if (record.bootIndicator !== 0 && record.bootIndicator !== 0x80) {
      problems.push({ code: 'MBR_BAD_RECORD', message: `record ${record.slot} has boot indicator 0x${record.bootIndicator.toString(16)} (0x00 or 0x80 expected)` });
      continue;
    }
    const partition = toPartition(record.slot, record, 0, diskSize, problems);
    if (partition === undefined) continue;
    partitions.push(partition);
    if (EXTENDED_TYPES.has(record.osType)) partitions.push(...(await chain.follow(record.startingLba)));
  }
  return partitions;
}

/** Makes a Partition of a record whose StartingLBA counts from `baseLba`; undefined (and a problem) when outside the disk. */
function toPartition(
  index: number,
  record: Pick<MbrRecord, 'bootIndicator' | 'osType' | 'startingLba' | 'sizeInLba'>,
  baseLba: number,
  diskSize: number,
  problems: Problem[],
): Partition | undefined {
  const start = (baseLba + record.startingLba) * MBR_SECTOR;
  const size = record.sizeInLba * MBR_SECTOR;
  if (record.startingLba === 0 || start + size > diskSize) {
    problems.push({
      code: 'PARTITION_OUT_OF_RANGE',
      message: `partition ${index} (bytes ${start}..${start + size}) is not inside the ${diskSize}-byte disk`,
    });
    return undefined;
  }
  const type = mbrTypeString(record.osType);
  const typeName = TYPE_NAMES[record.osType];
  return {
    index,
    start,
    size,
    type,
    ...(typeName === undefined ? {} : { typeName }),
    bootable: record.bootIndicator === 0x80,
  };
}

/**
 * Follows one disk's EBR chains. Each EBR's first record is a logical partition (StartingLBA relative to that
 * EBR); its second points at the next EBR (StartingLBA relative to the start of the primary extended partition).
 * Visited EBRs are remembered across chains, so a link pointing back ends the walk instead of looping.
 */
class EbrChain {
  private readonly visited = new Set<number>();
  /** EBRs read so far: a bound independent of loop detection, so no chain can cost more reads than this. */
  private ebrsRead = 0;
  private nextIndex = FIRST_LOGICAL_INDEX;

  constructor(
    private readonly image: DiskImage,
    private readonly diskSize: number,
    private readonly problems: Problem[],
  ) {}

  async follow(extendedLba: number): Promise<Partition[]> {
    const logical: Partition[] = [];
    let ebrLba = extendedLba;
    for (;;) {
      if (this.visited.has(ebrLba)) {
        this.problems.push({ code: 'EBR_LOOP', message: `the EBR at LBA ${ebrLba} is linked to twice; the chain stops there` });
        return logical;
      }
      if (this.ebrsRead >= MAX_LOGICAL_PARTITIONS) {
        this.problems.push({ code: 'EBR_LIMIT', message: `more than ${MAX_LOGICAL_PARTITIONS} EBRs; the rest are ignored` });
        return logical;
      }
      this.visited.add(ebrLba);
      this.ebrsRead++;
      const records = await this.readEbr(ebrLba);
      if (records === undefined) return logical;
      const [data, link] = records;
      if (data !== undefined) {
        const partition = toPartition(this.nextIndex++, data, ebrLba, this.diskSize, this.problems);
        if (partition !== undefined) logical.push(partition);
      }
      if (link === undefined || !EXTENDED_TYPES.has(link.osType)) return logical;
      ebrLba = extendedLba + link.startingLba;
    }
  }

  /** The EBR's first two records (undefined when unused); undefined and a problem when it cannot be an EBR. */
  private async readEbr(lba: number): Promise<[MbrRecord | undefined, MbrRecord | undefined] | undefined> {
    if ((lba + 1) * MBR_SECTOR > this.diskSize) {
      this.problems.push({ code: 'PARTITION_OUT_OF_RANGE', message: `an EBR at LBA ${lba} lies past the end of the disk` });
      return undefined;
    }
    const ebr = parseMbr(await this.image.read(lba * MBR_SECTOR, MBR_SECTOR));
    if (ebr === undefined) {
      this.problems.push({ code: 'EBR_BAD_SIGNATURE', message: `the EBR at LBA ${lba} lacks the 55 AA signature` });
      return undefined;
    }
    return [ebr.records.find((r) => r.slot === 1), ebr.records.find((r) => r.slot === 2)];
  }
}
