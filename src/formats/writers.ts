/**
 * The writers, one per writable format, each in its format's folder beside the reader. `ova` writes a one-disk
 * package here; src/formats/ova/write.ts also writes several disks (writeOva).
 */
import type { DiskWriter, OutputFormat } from '../image/writer.js';
import { ovaWriter } from './ova/write.js';
import { rawWriter } from './raw/write.js';
import { vmdkWriter } from './vmdk/write.js';
import { vhdWriter } from './vhd/write.js';
import { vhdxWriter } from './vhdx/write.js';

export const WRITERS: readonly DiskWriter[] = [vmdkWriter, ovaWriter, rawWriter, vhdWriter, vhdxWriter];

export function writerFor(format: OutputFormat): DiskWriter | undefined {
  return WRITERS.find((writer) => writer.format === format);
}
