/**
 * An OVA on a random-access source (a file): hop the headers, read the descriptor and manifest only, hand each disk
 * entry to the visitor as a window of the file, and (when asked) hash every listed entry through the worker pool.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { DiskError } from '../../errors.js';
import { Limits } from '../../limits.js';
import { FileSource } from '../../source/file.js';
import { ForwardSource } from '../../source/forward.js';
import type { ByteSource } from '../../source/types.js';
import { hashFileRange } from '../../workers/hash.js';
import { memberName, type EntryCatalog } from './catalog.js';
import { EntrySource, rangeChunks } from './entry-source.js';
import { ovaError } from './fail.js';
import { gunzipChunks } from './gzip.js';
import { compareManifest, parseManifest } from './manifest.js';
import { parseOvf } from './ovf.js';
import {
  checkCompression,
  checkReferences,
  diskFiles,
  entrySourceName,
  fileNamed,
  gzipFailure,
  isCertificateName,
  isManifestName,
  isOvfName,
  noOvf,
} from './package.js';
import { walkTar } from './tar.js';
import type {
  ManifestAlgorithm,
  ManifestLine,
  OvaDiskVisit,
  OvaReadOptions,
  OvaResult,
  OvfDescriptor,
  OvfFile,
  TarEntry,
  Verification,
} from './types.js';

export async function readOvaRandom<T>(source: ByteSource, options: OvaReadOptions<T>): Promise<OvaResult<T>> {
  const file = source.name;
  let ovf: { entry: TarEntry; header: number; descriptor: OvfDescriptor } | undefined;
  let manifest: { name: string; lines: ManifestLine[] } | undefined;
  let certificate: string | undefined;
  const checked = new Set<string>();
  // The descriptor, manifest and compression are handled in archive order, as the pipe reader meets them, so a
  // damaged package gives the same error either way.
  const catalog = await walkTar(source, async (entry, header) => {
    if (ovf === undefined && isOvfName(entry.name)) {
      const bytes = await readWhole(source, entry, Limits.maxOvfBytes, header, 'ovf');
      ovf = { entry, header, descriptor: parseOvf(bytes, { file, entry: entry.name, offset: header }) };
    } else if (manifest === undefined && isManifestName(entry.name)) {
      const bytes = await readWhole(source, entry, Limits.maxManifestBytes, header, 'manifest');
      manifest = { name: entry.name, lines: parseManifest(bytes, { file, entry: entry.name, offset: header }) };
    } else {
      if (certificate === undefined && isCertificateName(entry.name)) certificate = entry.name;
      const reference = ovf === undefined ? undefined : fileNamed(ovf.descriptor, entry.name);
      if (reference !== undefined) {
        await checkEntryCompression(source, reference, entry, header);
        checked.add(entry.name);
      }
    }
  });
  if (ovf === undefined) throw noOvf(file);
  const { descriptor } = ovf;
  checkReferences(descriptor, catalog, file, ovf.header);
  for (const reference of descriptor.files) {
    const entry = catalog.get(reference.href)!;
    if (!checked.has(entry.name) && entry !== ovf.entry && entry.name !== manifest?.name) await checkEntryCompression(source, reference, entry, catalog.headerOffset(entry.name)!);
  }
  const { entries } = catalog;

  // Hashing runs beside the visits: the pool reads other parts of the file while the disk readers work.
  const skip = new Set([manifest?.name, certificate].filter((name) => name !== undefined));
  const verifying = options.verify ? verify(source, entries, manifest?.lines ?? [], skip) : undefined;
  verifying?.catch(() => undefined); // awaited below; a visit failing first must not leave it unhandled
  const results = new Map<string, T>();
  for (const { reference, disks } of diskFiles(descriptor)) {
    const entry = catalog.get(reference.href)!;
    const name = entrySourceName(file, entry.name);
    const header = catalog.headerOffset(entry.name)!;
    const disk: ByteSource = reference.compression === 'gzip'
      ? new ForwardSource(name, gunzipChunks(rangeChunks(source, entry.offset, entry.size), gzipFailure(file, entry.name, header)))
      : new EntrySource(name, source, entry.offset, entry.size, siblingOpener(source, catalog, entry.name));
    try {
      results.set(entry.name, await options.visitDisk(disk, entry, disks[0]));
    } finally {
      // Only the entry's own stream: an EntrySource's close leaves the OVA open, a gunzip stream is stopped.
      await disk.close().catch(() => undefined);
    }
  }
  const visits: OvaDiskVisit<T>[] = descriptor.disks
    .filter((disk) => disk.href !== undefined)
    .map((disk) => ({ disk, entry: catalog.get(disk.href!)!, result: results.get(disk.href!)! }));
  const verification = await verifying;
  return {
    ovfName: ovf.entry.name,
    ovf: descriptor,
    entries,
    ...(manifest === undefined ? {} : { manifest }),
    ...(certificate === undefined ? {} : { certificate }),
    disks: visits,
    ...(verification === undefined ? {} : { verification }),
    bytesRead: source.bytesRead,
  };
}

async function checkEntryCompression(source: ByteSource, reference: OvfFile, entry: TarEntry, header: number): Promise<void> {
  const head = entry.size >= 2 ? await source.read(entry.offset, 2) : new Uint8Array(0);
  checkCompression(reference, head, source.name, header);
}

/** The whole data of a small entry, refused past its named maximum before anything is read. */
async function readWhole(source: ByteSource, entry: TarEntry, max: number, header: number, what: string): Promise<Uint8Array> {
  if (entry.size > max) {
    throw ovaError(source.name, 'LIMIT_EXCEEDED', `${entry.name} is ${entry.size} bytes; the ${what} may be at most ${max}`, header, 'header.size');
  }
  return source.read(entry.offset, entry.size);
}

/** A VMDK descriptor inside the OVA may name its extents: they are other entries, found relative to it. */
function siblingOpener(source: ByteSource, catalog: EntryCatalog, from: string): (relativePath: string) => Promise<ByteSource> {
  return async (relativePath) => {
    const joined = posix.normalize(posix.join(posix.dirname(from), relativePath));
    const name = posix.isAbsolute(relativePath) || joined.startsWith('..') ? undefined : memberName(joined);
    if (name === undefined) {
      throw new DiskError('PATH_OUTSIDE_FOLDER', `refers to ${JSON.stringify(relativePath)}, outside the OVA`, { file: entrySourceName(source.name, from) });
    }
    const entry = catalog.get(name);
    if (entry === undefined) {
      throw new DiskError('EXTENT_MISSING', `refers to ${JSON.stringify(relativePath)}, which the OVA does not hold`, { file: entrySourceName(source.name, from) });
    }
    return new EntrySource(entrySourceName(source.name, name), source, entry.offset, entry.size, siblingOpener(source, catalog, name));
  };
}

/** Digests of every (entry, algorithm) the manifest names, all at once; the hash pool bounds the parallelism. */
async function verify(source: ByteSource, entries: TarEntry[], lines: ManifestLine[], skip: Set<string>): Promise<Verification> {
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const wanted = new Map<string, { entry: TarEntry; algorithm: ManifestAlgorithm }>();
  for (const line of lines) {
    const entry = byName.get(line.name);
    if (entry !== undefined) wanted.set(`${line.algorithm}:${line.name}`, { entry, algorithm: line.algorithm });
  }
  const digests = new Map<string, string>();
  await Promise.all([...wanted].map(async ([key, { entry, algorithm }]) => {
    digests.set(key, await digestRange(source, entry, algorithm));
  }));
  return compareManifest(lines, entries, skip, (name, algorithm) => digests.get(`${algorithm}:${name}`));
}

async function digestRange(source: ByteSource, entry: TarEntry, algorithm: ManifestAlgorithm): Promise<string> {
  if (source instanceof FileSource) {
    try {
      return await hashFileRange(source.path, entry.offset, entry.size, algorithm);
    } catch (error) {
      if (error instanceof DiskError) throw error;
      throw new DiskError('IO_ERROR', `hashing ${entry.name}: ${error instanceof Error ? error.message : String(error)}`, { file: source.name, format: 'ova', offset: entry.offset, field: 'data', cause: error });
    }
  }
  // Any other random-access source (bytes in memory, a remote object): hashed here, chunk by chunk.
  const hash = createHash(algorithm);
  for await (const chunk of rangeChunks(source, entry.offset, entry.size)) hash.update(chunk);
  return hash.digest('hex');
}
