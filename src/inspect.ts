import { asDiskError } from './errors.js';
import type { FormatName } from './image/types.js';
import { openImage, type OpenImageOptions } from './open.js';
import { detectFilesystem, type Filesystem } from './filesystems/index.js';
import type { DiskImage } from './image/types.js';
import { readPartitionTable, type BootMode, type Partition, type Problem } from './partitions/index.js';
import { ForwardSource } from './source/forward.js';
import type { ByteSource } from './source/types.js';

export interface InspectReport {
  file: string;
  format: FormatName;
  subformat: string | null;
  /** Guest-visible size in bytes (what `qemu-img info` calls virtual-size). */
  virtualSize: number;
  /** Guest bytes backed by data in the file, where the format's tables tell; null otherwise. */
  allocatedSize: number | null;
  /** Size of the file itself; null for a pipe. */
  fileSize: number | null;
  /** Whether the image was read from a random-access source. */
  randomAccess: boolean;
  /** Bytes diskport read from the file to produce this report. */
  bytesRead: number;
  /** The partition table scheme; null when there is none (or, for a pipe, when it could not be read). */
  partitionTable: 'mbr' | 'gpt' | null;
  /** How the disk boots, in the sense of EC2's BootMode (uefi-preferred: it boots both ways). */
  bootMode: BootMode | null;
  /** The partitions, each with the file system found in it; null for a pipe (that needs random access). */
  partitions: (Partition & { filesystem: Filesystem | null })[] | null;
  /** Distinct file-system types found (in partitions, or on the bare disk), sorted; null for a pipe. */
  filesystems: string[] | null;
  /** What is wrong with the partition table (damaged GPT copy, hybrid MBR, nothing bootable, ...). */
  partitionProblems: Problem[];
  /** Format-specific facts (cluster size, creator, extents, ...). */
  details: Record<string, unknown>;
}

/**
 * Says what an image is, reading only its metadata and partition table (a RAW pipe of unknown length is read to
 * its end; a pipe's partition table is not read, as that needs random access).
 */
export async function inspect(input: string | ByteSource, options: OpenImageOptions = {}): Promise<InspectReport> {
  const image = await openImage(input, options);
  const { source } = image;
  try {
    const table = image.randomAccess ? await readPartitionTable(image) : undefined;
    const partitions = table === undefined ? undefined : await withFilesystems(image, table.partitions);
    const bare = table !== undefined && table.scheme === null ? await detectFilesystem(image, 0, image.virtualSize ?? 0) : null;
    const found = [...(partitions ?? []).map((p) => p.filesystem), bare].filter((fs) => fs !== null);
    const virtualSize = image.virtualSize ?? (await (source as ForwardSource).drain());
    return {
      file: source.name,
      format: image.format,
      subformat: image.subformat,
      virtualSize,
      allocatedSize: image.allocatedSize ?? null,
      fileSize: source.size ?? null,
      randomAccess: image.randomAccess,
      bytesRead: source.bytesRead,
      partitionTable: table?.scheme ?? null,
      bootMode: table?.bootMode ?? null,
      partitions: partitions ?? null,
      filesystems: table === undefined ? null : [...new Set(found.map((fs) => fs.type))].sort(),
      partitionProblems: table?.problems ?? [],
      details: { ...image.details },
    };
  } catch (error) {
    throw asDiskError(error, source.name);
  } finally {
    await image.close().catch(() => undefined);
  }
}

/** Looks for a file system in every partition except extended-partition containers (their EBRs are not one). */
async function withFilesystems(image: DiskImage, partitions: Partition[]) {
  const out = [];
  for (const partition of partitions) {
    const filesystem = partition.typeName === 'extended' ? null : await detectFilesystem(image, partition.start, partition.size);
    out.push({ ...partition, filesystem });
  }
  return out;
}
