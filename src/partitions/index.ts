/**
 * Reads the partition table (MBR or GPT) of a disk image and says how the disk boots, in the sense of AWS's
 * BootMode (legacy-bios, uefi, uefi-preferred). Reads LBA 0, the GPT headers and the bounded entry array (or the
 * EBR chain): a few KiB, never the whole disk. Damaged tables become `problems`; only the image's DiskErrors throw.
 */
import type { DiskImage } from '../image/types.js';
import { Limits } from '../limits.js';
import { BIOS_BOOT_GUID, ESP_GUID, readGpt } from './gpt.js';
import type { GptResult } from './gpt.js';
import { EFI_SYSTEM_TYPE, MBR_SECTOR, isHybrid, isProtective, mbrTypeString, parseMbr, readMbrPartitions } from './mbr.js';
import type { ParsedMbr } from './mbr.js';

export { crc32 } from './gpt.js';

export interface Partition {
  /** 1-based: the MBR slot (logical partitions from 5) or the GPT entry number. */
  index: number;
  /** Bytes from the start of the disk. */
  start: number;
  /** Bytes. */
  size: number;
  /** MBR: the OSType as '0x83'; GPT: the PartitionTypeGUID, upper-case. */
  type: string;
  typeName?: string;
  /** GPT PartitionName (UTF-16LE). */
  name?: string;
  /** MBR: the active flag (0x80); GPT: attribute bit 2, Legacy BIOS Bootable. */
  bootable?: boolean;
}

export interface Problem {
  code: string;
  message: string;
}

export type BootMode = 'legacy-bios' | 'uefi' | 'uefi-preferred';

export interface PartitionTable {
  scheme: 'mbr' | 'gpt' | null;
  partitions: Partition[];
  bootMode: BootMode | null;
  sectorSize: 512 | 4096;
  problems: Problem[];
  /** Set when the protective MBR carries other records too. */
  hybridMbr?: boolean;
}

export async function readPartitionTable(image: DiskImage): Promise<PartitionTable> {
  // A pipe of unknown length: reads past the real end fail with the image's own error.
  const diskSize = image.virtualSize ?? Limits.maxVirtualSize;
  const problems: Problem[] = [];
  if (diskSize < MBR_SECTOR) return noTable(problems);
  const mbr = parseMbr(await image.read(0, MBR_SECTOR));

  // A GPT disk carries a protective MBR; without any MBR signature a valid GPT is still worth reporting.
  if (mbr === undefined || isProtective(mbr)) {
    const gpt = await readGpt(image, diskSize, problems);
    return gptTable(mbr, gpt, problems);
  }
  const partitions = await readMbrPartitions(image, mbr, diskSize, problems);
  return finish({ scheme: 'mbr', partitions, bootMode: mbrBootMode(mbr, partitions), sectorSize: MBR_SECTOR, problems });
}

function gptTable(mbr: ParsedMbr | undefined, gpt: GptResult | undefined, problems: Problem[]): PartitionTable {
  if (mbr === undefined) {
    if (gpt === undefined || !gpt.valid) return noTable(problems);
    problems.push({ code: 'NO_PROTECTIVE_MBR', message: 'a valid GPT without a protective MBR at LBA 0' });
  }
  if (gpt === undefined) {
    problems.push({ code: 'GPT_DAMAGED', message: 'the protective MBR announces a GPT, but no "EFI PART" header was found' });
  }
  const table: PartitionTable = {
    scheme: 'gpt',
    partitions: gpt?.partitions ?? [],
    bootMode: gptBootMode(gpt?.partitions ?? []),
    sectorSize: gpt?.sectorSize ?? MBR_SECTOR,
    problems,
  };
  if (mbr !== undefined && isHybrid(mbr)) {
    table.hybridMbr = true;
    problems.push({ code: 'HYBRID_MBR', message: 'the protective MBR also carries other partition records; the GPT is authoritative' });
  }
  return finish(table);
}

function noTable(problems: Problem[]): PartitionTable {
  return { scheme: null, partitions: [], bootMode: null, sectorSize: MBR_SECTOR, problems };
}

/** A table that exists but boots nothing is worth a problem entry. */
function finish(table: PartitionTable): PartitionTable {
  if (table.bootMode === null) {
    table.problems.push({ code: 'NOT_BOOTABLE', message: `the ${table.scheme} table has nothing a BIOS or UEFI firmware would boot` });
  }
  return table;
}

/** ESP -> UEFI firmware can boot it; a BIOS boot partition -> GRUB's core image for a BIOS is there too. */
function gptBootMode(partitions: Partition[]): BootMode | null {
  const esp = partitions.some((p) => p.type === ESP_GUID);
  const biosBoot = partitions.some((p) => p.type === BIOS_BOOT_GUID);
  return bootModeOf(esp, biosBoot);
}

/** A BIOS runs the MBR boot code and it loads the active partition: both must be there. An 0xEF partition is an ESP. */
function mbrBootMode(mbr: ParsedMbr, partitions: Partition[]): BootMode | null {
  const esp = partitions.some((p) => p.type === mbrTypeString(EFI_SYSTEM_TYPE));
  const legacy = mbr.hasBootCode && partitions.some((p) => p.bootable === true);
  return bootModeOf(esp, legacy);
}

function bootModeOf(uefi: boolean, legacy: boolean): BootMode | null {
  if (uefi) return legacy ? 'uefi-preferred' : 'uefi';
  return legacy ? 'legacy-bios' : null;
}

/** An EFI System Partition, by GPT type GUID or MBR type 0xEF. */
export function isEspType(type: string): boolean {
  return type === ESP_GUID || type === mbrTypeString(EFI_SYSTEM_TYPE);
}
