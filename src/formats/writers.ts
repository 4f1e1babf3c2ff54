/**
 * The writers, one per writable format, each in its format's folder beside the reader. `ova` is not here: it is a
 * container of VMDK disks, written by src/formats/ova/write.ts.
 */
import type { FormatName } from '../image/types.js';
import type { DiskWriter } from '../image/writer.js';
import { rawWriter } from './raw/write.js';
import { vmdkWriter } from './vmdk/write.js';

export const WRITERS: readonly DiskWriter[] = [vmdkWriter, rawWriter];

export function writerFor(format: FormatName): DiskWriter | undefined {
  return WRITERS.find((writer) => writer.format === format);
}
