import { DiskError, asDiskError } from './errors.js';
import type { FormatName } from './image/types.js';
import { openProbed, probeSource, type OpenImageOptions } from './open.js';
import {
  bootKernels,
  detectFilesystem,
  findEfiLoaders,
  linuxRelease,
  windowsHints,
  type EspContents,
  type Filesystem,
  type LinuxRelease,
  type WindowsHints,
} from './filesystems/index.js';
import type { DiskImage } from './image/types.js';
import { isEspType, readPartitionTable, type BootMode, type Partition, type Problem } from './partitions/index.js';
import { ova, readOva, type OvaResult, type OvfDescriptor, type OvfDisk, type TarEntry, type Verification } from './formats/ova/index.js';
import { ForwardSource } from './source/forward.js';
import { captureWindows, windowSource } from './image/capture.js';
import { vhd } from './formats/vhd/index.js';
import { hasCookie } from './formats/vhd/footer.js';
import { openSource } from './source/open.js';
import type { ByteSource } from './source/types.js';

export type InspectedPartition = Partition & {
  filesystem: Filesystem | null;
  /** For an EFI System Partition with a FAT file system: the loaders under \EFI\BOOT and the vendor folders. */
  esp?: EspContents;
  /** For an ext2/3/4 root file system (one with /etc): the Linux release and its installed kernels. */
  linux?: LinuxRelease;
  /** For an ext2/3/4 volume without /etc that holds vmlinuz-* at its root (a separate /boot): those kernels. */
  bootKernels?: string[];
  /** For an NTFS volume: whether it holds \Windows (\System32), bootmgr, pagefile.sys, hiberfil.sys. */
  windows?: WindowsHints;
};

/** What inspect says of any input, a disk image or an OVA. */
export interface ReportBase {
  file: string;
  /** Guest-visible size in bytes (what `qemu-img info` calls virtual-size; an OVA: the sum of its disks). */
  virtualSize: number;
  /** Guest bytes backed by data in the file, where the format's tables tell; null otherwise. */
  allocatedSize: number | null;
  /** Size of the file itself; null for a pipe. */
  fileSize: number | null;
  /** Whether the input was read from a random-access source. */
  randomAccess: boolean;
  /** Bytes diskport read from the file to produce this report. */
  bytesRead: number;
  /** The partition table scheme (an OVA: its boot disk's); null when there is none or it could not be read. */
  partitionTable: 'mbr' | 'gpt' | null;
  /** How the disk boots, in the sense of EC2's BootMode (uefi-preferred: it boots both ways). */
  bootMode: BootMode | null;
  /** Distinct file-system types found (in partitions, or on a bare disk), sorted; null when none could be read. */
  filesystems: string[] | null;
}

/** What inspect says of one disk image (a standalone file, or one disk of an OVA). */
export interface DiskReport extends ReportBase {
  format: FormatName;
  subformat: string | null;
  /** The partitions, each with the file system found in it; null when the table could not be read. */
  partitions: InspectedPartition[] | null;
  /** What is wrong with the partition table (damaged GPT copy, hybrid MBR, nothing bootable, ...). */
  partitionProblems: Problem[];
  /** Format-specific facts (cluster size, creator, extents, ...). */
  details: Record<string, unknown>;
}

/** One disk of an OVA: the standalone report plus what the OVF and the tar say of it. */
export interface OvaDiskReport extends DiskReport {
  /** The tar entry holding the disk. */
  href: string;
  diskId: string | null;
  /** Capacity the OVF declares, in bytes (null when the entry is not referenced by a Disk). */
  ovfCapacity: number | null;
  /** The OVF's ovf:format URI for the disk. */
  ovfFormat: string | null;
  /** ovf:size of the File, when given (to compare with entrySize). */
  ovfFileSize: number | null;
  /** Bytes of the tar entry. */
  entrySize: number;
  /** ovf:compression of the File. */
  compression: 'gzip' | null;
  controller: string | null;
}

/** What inspect says of an OVA: its OVF, its entries and every disk it references, in OVF order. */
export interface OvaReport extends ReportBase {
  format: 'ova';
  subformat: null;
  ovfName: string;
  ovf: OvfDescriptor;
  disks: OvaDiskReport[];
  entries: TarEntry[];
  manifest: { name: string; algorithms: string[]; files: number } | null;
  certificate: string | null;
  /** Present when the manifest was checked (`--verify`). */
  verification?: Verification;
}

export type InspectReport = DiskReport | OvaReport;

export interface InspectOptions extends OpenImageOptions {
  /** OVA: hash every entry and compare with the manifest (a mismatch is reported in `verification`). */
  verify?: boolean;
}

/**
 * Says what an image or OVA is, reading only its metadata and partition table (a RAW pipe of unknown length is
 * read to its end; a pipe's partition table is not read, as that needs random access).
 */
export async function inspect(input: string | ByteSource, options: InspectOptions = {}): Promise<InspectReport> {
  const source = typeof input === 'string' ? await openSource(input, options) : input;
  try {
    const probe = await probeSource(source);
    if (options.format === undefined && ova.detect(probe)) return await inspectOva(source, options);
    return await inspectDisk(await openProbed(source, probe, options));
  } catch (error) {
    throw asDiskError(error, source.name);
  } finally {
    await source.close().catch(() => undefined);
  }
}

/**
 * Partition table, file systems and the ESP's loaders of an open image; closes it. A forward-only image is
 * streamed through once, keeping the windows those readers need (image/capture.ts); what lies outside them
 * (an EBR chain deep in the disk, say) leaves that part of the report null rather than guessed.
 */
async function inspectDisk(image: DiskImage): Promise<DiskReport> {
  const { source } = image;
  try {
    const streamed = !image.randomAccess;
    const readable = streamed ? await streamedView(image) : image;
    const kept = <T>(work: Promise<T>) => (streamed ? unlessNotKept(work) : work);
    const table = await kept(readPartitionTable(readable));
    const partitions = table === undefined ? undefined : await withFilesystems(readable, table.partitions, kept);
    const bare = table !== undefined && table.scheme === null ? await kept(detectFilesystem(readable, 0, readable.virtualSize!)) : null;
    const found = [...(partitions ?? []).map((p) => p.filesystem), bare].filter((fs) => fs !== null && fs !== undefined);
    return {
      file: source.name,
      format: readable.format,
      subformat: readable.subformat,
      virtualSize: readable.virtualSize!,
      allocatedSize: readable.allocatedSize ?? null,
      fileSize: source.size ?? null,
      randomAccess: image.randomAccess,
      bytesRead: source.bytesRead,
      partitionTable: table?.scheme ?? null,
      bootMode: table?.bootMode ?? null,
      partitions: partitions ?? null,
      filesystems: table === undefined ? null : [...new Set(found.map((fs) => fs!.type))].sort(),
      partitionProblems: table?.problems ?? [],
      details: { ...readable.details },
    };
  } finally {
    await image.close().catch(() => undefined);
  }
}

/**
 * A forward-only image streamed once into the windows inspection needs. Through a pipe a fixed VHD looks like RAW
 * until its footer, the last 512 bytes, goes by; the kept tail then shows it, and the VHD reader reopens the
 * windows so the report says what a file would.
 */
async function streamedView(image: DiskImage): Promise<DiskImage> {
  const windows = await captureWindows(image, () => (image.source as ForwardSource).drain());
  const size = windows.virtualSize!;
  if (image.format !== 'raw' || size < 512) return windows;
  const tail = await windows.read(size - 512, 512);
  return hasCookie(tail) ? vhd.open(windowSource(windows), {}) : windows;
}

/** undefined when the work needed bytes a streamed inspection did not keep. */
async function unlessNotKept<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof DiskError && error.code === 'NOT_SEEKABLE') return undefined;
    throw error;
  }
}

type Kept = <T>(work: Promise<T>) => Promise<T | undefined>;

/** Looks for a file system in every partition except extended-partition containers (their EBRs are not one). */
async function withFilesystems(image: DiskImage, partitions: Partition[], kept: Kept): Promise<InspectedPartition[]> {
  const out: InspectedPartition[] = [];
  for (const partition of partitions) {
    const filesystem = partition.typeName === 'extended' ? null : (await kept(detectFilesystem(image, partition.start, partition.size))) ?? null;
    const isEsp = isEspType(partition.type) && filesystem?.type === 'vfat';
    const esp = isEsp ? await kept(findEfiLoaders(image, partition.start, partition.size)) : undefined;
    const os = EXT_TYPES.has(filesystem?.type ?? '') ? await linuxFacts(image, partition, kept)
      : filesystem?.type === 'ntfs' ? await windowsFacts(image, partition, kept) : {};
    out.push({ ...partition, filesystem, ...(esp === undefined ? {} : { esp }), ...os });
  }
  return out;
}

const EXT_TYPES = new Set(['ext2', 'ext3', 'ext4']);

/** What an NTFS volume's root says of Windows (a few KiB: the MFT records of \ and \Windows, their indexes). */
async function windowsFacts(image: DiskImage, partition: Partition, kept: Kept): Promise<Pick<InspectedPartition, 'windows'>> {
  const windows = await kept(windowsHints(image, partition.start, partition.size));
  return windows ? { windows } : {};
}

/** A root file system's release and kernels, or a separate /boot's kernels; a few dozen KiB of reads. */
async function linuxFacts(image: DiskImage, partition: Partition, kept: Kept): Promise<Pick<InspectedPartition, 'linux' | 'bootKernels'>> {
  const linux = await kept(linuxRelease(image, partition.start, partition.size));
  if (linux) return { linux };
  const kernels = await kept(bootKernels(image, partition.start, partition.size));
  return kernels && kernels.length > 0 ? { bootKernels: kernels } : {};
}

/** Every disk the OVF references, inspected through the same readers as a standalone file. */
async function inspectOva(source: ByteSource, options: InspectOptions): Promise<OvaReport> {
  const result = await readOva(source, {
    verify: options.verify,
    visitDisk: async (entrySource) => inspectDisk(await openProbed(entrySource, await probeSource(entrySource), options)),
  });
  const disks = result.disks.map(({ disk, entry, result: report }) => ovaDisk(result, report, disk, entry));
  const boot = disks[0];
  const filesystems = disks.every((d) => d.filesystems === null) ? null : [...new Set(disks.flatMap((d) => d.filesystems ?? []))].sort();
  const allocated = disks.map((d) => d.allocatedSize);
  return {
    file: source.name,
    format: 'ova',
    subformat: null,
    virtualSize: disks.reduce((sum, d) => sum + d.virtualSize, 0),
    allocatedSize: allocated.every((a) => a !== null) ? allocated.reduce((sum, a) => sum + a, 0) : null,
    fileSize: source.size ?? null,
    randomAccess: source.seekable,
    bytesRead: result.bytesRead,
    partitionTable: boot?.partitionTable ?? null,
    bootMode: boot?.bootMode ?? null,
    filesystems,
    ovfName: result.ovfName,
    ovf: result.ovf,
    disks,
    entries: result.entries,
    manifest: result.manifest === undefined ? null : {
      name: result.manifest.name,
      algorithms: [...new Set(result.manifest.lines.map((line) => line.algorithm))].sort(),
      files: result.manifest.lines.length,
    },
    certificate: result.certificate ?? null,
    ...(result.verification === undefined ? {} : { verification: result.verification }),
  };
}

function ovaDisk(result: OvaResult<DiskReport>, report: DiskReport, disk: OvfDisk, entry: TarEntry): OvaDiskReport {
  const file = result.ovf.files.find((f) => f.href === entry.name);
  return {
    ...report,
    href: entry.name,
    diskId: disk.diskId,
    ovfCapacity: disk.capacity,
    ovfFormat: disk.format ?? null,
    ovfFileSize: file?.size ?? null,
    entrySize: entry.size,
    compression: file?.compression ?? null,
    controller: disk.controller ?? null,
  };
}

/** For `inspect --verify`: a manifest that disagrees with the entries is an error. */
export function assertVerified(report: InspectReport): void {
  if (report.format !== 'ova' || report.verification === undefined) return;
  const { mismatches, missing } = report.verification;
  if (mismatches.length === 0 && missing.length === 0) return;
  const first = mismatches[0];
  const what = first === undefined
    ? `the manifest lists ${missing.join(', ')}, which the OVA does not hold`
    : `${first.name}: ${first.algorithm} is ${first.actual}, the manifest says ${first.expected}` +
      (mismatches.length > 1 ? ` (and ${mismatches.length - 1} more)` : '');
  throw new DiskError('MANIFEST_MISMATCH', what, { file: report.file, format: 'ova', field: report.manifest?.name });
}
