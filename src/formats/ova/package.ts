/**
 * The package-level rules shared by the file and the pipe readers: which entries are the descriptor, manifest and
 * certificate (the first of each kind in archive order); that every File the OVF lists is in the tar; that compression is declared exactly where it is used;
 * and which disks reference which file.
 */
import { DiskError } from '../../errors.js';
import type { EntryCatalog } from './catalog.js';
import { ovaError } from './fail.js';
import { hasGzipMagic } from './gzip.js';
import type { OvfDescriptor, OvfDisk, OvfFile, TarEntry } from './types.js';

export const ALL_ALGORITHMS = ['sha1', 'sha256', 'sha512'] as const;

export const isOvfName = (name: string) => /\.ovf$/i.test(name);
export const isManifestName = (name: string) => /\.mf$/i.test(name);
export const isCertificateName = (name: string) => /\.cert$/i.test(name);

export function noOvf(file: string): DiskError {
  return ovaError(file, 'OVA_NO_OVF', 'the tar holds no .ovf descriptor, so it is not an OVA', 0, 'entries');
}

/**
 * Every File of References must be an entry. Chunked files (ovf:chunkSize: href.000000000, href.000000001, ...) are
 * not read: their disk would have to be joined across entries.
 */
export function checkReferences(ovf: OvfDescriptor, catalog: EntryCatalog, file: string, ovfHeader: number): void {
  ovf.files.forEach((reference, index) => {
    if (catalog.get(reference.href) !== undefined) return;
    const field = `References/File[${index}]/href`;
    if (reference.chunkSize !== undefined || catalog.get(`${reference.href}.000000000`) !== undefined) {
      throw ovaError(file, 'UNSUPPORTED_FEATURE', `File ${JSON.stringify(reference.id)} (${reference.href}) is stored in chunks, which diskport does not join`, ovfHeader, field);
    }
    throw ovaError(file, 'OVA_MISSING_FILE', `the OVF lists ${JSON.stringify(reference.href)} (File ${JSON.stringify(reference.id)}) but the tar does not hold it`, ovfHeader, field);
  });
}

/** Gzip is used exactly where the OVF declares it: magic without the declaration, or the reverse, is refused. */
export function checkCompression(reference: OvfFile, head: Uint8Array, file: string, headerOffset: number): void {
  const gzip = hasGzipMagic(head);
  if (gzip && reference.compression !== 'gzip') {
    throw ovaError(file, 'OVA_UNDECLARED_COMPRESSION', `${reference.href} is gzip data but its File does not declare ovf:compression="gzip"; disk readers would see the compressed bytes`, headerOffset, 'data');
  }
  if (!gzip && reference.compression === 'gzip') {
    throw ovaError(file, 'CORRUPT_DATA', `${reference.href} is declared ovf:compression="gzip" but does not start with the gzip magic 1F 8B`, headerOffset, 'data');
  }
}

/** The files that hold disks, in DiskSection order, each with the disks that use it (usually one). */
export function diskFiles(ovf: OvfDescriptor): { reference: OvfFile; disks: OvfDisk[] }[] {
  const out = new Map<string, { reference: OvfFile; disks: OvfDisk[] }>();
  for (const disk of ovf.disks) {
    if (disk.href === undefined) continue; // a blank disk: nothing in the package
    const reference = ovf.files.find((f) => f.href === disk.href)!;
    const slot = out.get(disk.href) ?? { reference, disks: [] };
    slot.disks.push(disk);
    out.set(disk.href, slot);
  }
  return [...out.values()];
}

export function fileNamed(ovf: OvfDescriptor, href: string): OvfFile | undefined {
  return ovf.files.find((f) => f.href === href);
}

/** The name a disk reader's messages carry: the OVA, then the entry. */
export function entrySourceName(file: string, entry: string): string {
  return `${file}:${entry}`;
}

export function gzipFailure(file: string, entry: string, offset: number): (reason: string) => DiskError {
  return (reason) => ovaError(file, 'CORRUPT_DATA', `${entry}: the gzip data does not inflate: ${reason}`, offset, 'data');
}
