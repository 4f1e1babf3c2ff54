/**
 * An OVA on a forward-only source (a pipe): tar-stream frames the entries as they pass, each is handled once and
 * drained, so memory stays bounded whatever the OVA's size. The OVF normally comes first and says which entries are
 * disks; when it comes later, every entry that could be a disk is visited blind (disk undefined) and matched with the
 * OVF at the end. Every entry is hashed as it streams when verifying: with the manifest's algorithms when the
 * manifest came first, else with all three, since the manifest may be the last entry.
 */
import { createHash, type Hash } from 'node:crypto';
import { extract as tarExtract, type Extract, type Header } from 'tar-stream';
import { DiskError } from '../../errors.js';
import { Limits } from '../../limits.js';
import { ForwardSource } from '../../source/forward.js';
import type { ByteSource } from '../../source/types.js';
import { EntryCatalog, type EntryKind } from './catalog.js';
import { ovaError } from './fail.js';
import { gunzipChunks, hasGzipMagic } from './gzip.js';
import { algorithmsFor, compareManifest, parseManifest } from './manifest.js';
import { parseOvf } from './ovf.js';
import {
  ALL_ALGORITHMS,
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
import { align512, isPaxSize } from './tar.js';
import type { ManifestAlgorithm, ManifestLine, OvaDiskVisit, OvaReadOptions, OvaResult, OvfDescriptor, OvfDisk, TarEntry } from './types.js';

/** How much of the pipe is handed to tar-stream at once. */
const FEED_CHUNK = 1024 * 1024;

/** Entries that are package metadata or plainly not disks; anything else met before the OVF is visited blind. */
const NOT_A_DISK = /\.(ovf|mf|cert|iso|nvram|txt|xml|json)$/i;

/** tar-stream's entry: its header (plus the data offset it records but does not declare) and its header's offset. */
type StreamEntry = AsyncIterable<Uint8Array> & { header: Header & { byteOffset?: number }; offset?: number };

interface Seen {
  entry: TarEntry;
  header: number;
  /** The data starts with the gzip magic. */
  gzip: boolean;
  /** Visited (before or after the OVF was known): the visitor's result, or what it threw. */
  visited?: { result: unknown } | { error: unknown };
}

export async function readOvaStream<T>(source: ByteSource, options: OvaReadOptions<T>): Promise<OvaResult<T>> {
  const file = source.name;
  const catalog = new EntryCatalog(file);
  const extract = tarExtract();
  const entries = extract[Symbol.asyncIterator]() as AsyncIterator<StreamEntry>;
  const seen = new Map<string, Seen>();
  const digests = new Map<string, Map<ManifestAlgorithm, string>>();
  let ovf: { entry: TarEntry; header: number; descriptor: OvfDescriptor } | undefined;
  let manifest: { name: string; lines: ManifestLine[] } | undefined;
  let certificate: string | undefined;
  // Where errors point: the header of the entry being read, or where the next header is due.
  let current: number | undefined;
  let nextHeader = 0;

  const feeding = feed(source, extract);
  try {
    for (;;) {
      const step = await entries.next();
      if (step.done) break;
      const stream = step.value;
      const { header } = stream;
      const dataOffset = header.byteOffset ?? nextHeader + 512;
      current = stream.offset ?? nextHeader;
      // tar-stream decodes a base-256 field it does not understand as null and then waits forever for the data:
      // anything but a byte count is refused here, before the entry is read.
      const size = header.size as number | null | undefined;
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw ovaError(file, 'BAD_HEADER', 'size field is not a number', current, 'header.size');
      }
      const pax = typeof header.pax === 'object' && header.pax !== null ? (header.pax as Record<string, string>) : {};
      if (pax.size !== undefined && pax.size !== '' && !isPaxSize(pax.size)) {
        throw ovaError(file, 'BAD_HEADER', `pax extended header: size ${JSON.stringify(pax.size)} is not a byte count`, current, 'pax');
      }
      if (Object.keys(pax).some((key) => key.startsWith('GNU.sparse.'))) {
        throw ovaError(file, 'UNSUPPORTED_FEATURE', 'a GNU sparse member (pax GNU.sparse.*): its data is a sparse map, not the file', current, 'pax');
      }
      const entry = catalog.add({ name: header.name, kind: kindOf(header.type), type: header.type ?? 'unknown', headerOffset: current, dataOffset, size });
      const algorithms = entry === undefined || !options.verify ? [] : manifest === undefined ? [...ALL_ALGORITHMS] : algorithmsFor(manifest.lines, entry.name);
      const at = current;
      const tap = new EntryTap(stream, algorithms, (error) => asOvaError(error, file, at, true));
      if (entry === undefined) {
        await tap.drain(); // a directory
      } else if (ovf === undefined && isOvfName(entry.name)) {
        const bytes = await tap.readAll(size, Limits.maxOvfBytes, () => ovaError(file, 'LIMIT_EXCEEDED', `${entry.name} is ${size} bytes; the ovf may be at most ${Limits.maxOvfBytes}`, current, 'header.size'));
        ovf = { entry, header: current, descriptor: parseOvf(bytes, { file, entry: entry.name, offset: current }) };
      } else if (manifest === undefined && isManifestName(entry.name)) {
        const bytes = await tap.readAll(size, Limits.maxManifestBytes, () => ovaError(file, 'LIMIT_EXCEEDED', `${entry.name} is ${size} bytes; the manifest may be at most ${Limits.maxManifestBytes}`, current, 'header.size'));
        manifest = { name: entry.name, lines: parseManifest(bytes, { file, entry: entry.name, offset: current }) };
      } else {
        if (certificate === undefined && isCertificateName(entry.name)) certificate = entry.name;
        const record: Seen = { entry, header: current, gzip: hasGzipMagic(await tap.peek(2)) };
        seen.set(entry.name, record);
        await visitIfDisk(record, tap);
        await tap.drain();
      }
      if (entry !== undefined && algorithms.length > 0) digests.set(entry.name, tap.digests());
      nextHeader = align512(dataOffset + size);
      current = undefined;
    }
  } catch (error) {
    // Not waiting for the feeder: it may be blocked on a pipe whose writer stalls; it stops at its next chunk.
    extract.destroy();
    throw asOvaError(error, file, current ?? nextHeader, current !== undefined);
  }
  await feeding; // the extractor finished, so the feeder has ended it

  if (ovf === undefined) throw noOvf(file);
  const descriptor = ovf.descriptor;
  checkReferences(descriptor, catalog, file, ovf.header);
  for (const reference of descriptor.files) {
    const record = seen.get(reference.href);
    // The OVF and manifest are never References (and were read whole, not peeked); anything else was.
    if (record !== undefined) checkCompression(reference, record.gzip ? Uint8Array.of(0x1f, 0x8b) : new Uint8Array(0), file, record.header);
  }
  const results = new Map<string, T>();
  for (const { reference, disks } of diskFiles(descriptor)) {
    const record = seen.get(reference.href)!;
    if (record.visited === undefined && record.entry.size === 0) {
      // An empty entry is never visited blind; it needs no data to be visited now.
      record.visited = await visit(new ForwardSource(entrySourceName(file, record.entry.name), emptyChunks(), 0), record.entry, disks[0]);
    }
    if (record.visited === undefined) {
      throw ovaError(file, 'UNSUPPORTED_FEATURE', `${reference.href} came before the OVF and was not recognised as a disk, so it was not read; use a file instead of a pipe`, record.header, 'header.name');
    }
    // A blind visit's failure counts only now that the entry turns out to be a disk.
    if ('error' in record.visited) throw record.visited.error;
    results.set(reference.href, record.visited.result as T);
  }
  const visits: OvaDiskVisit<T>[] = descriptor.disks
    .filter((disk) => disk.href !== undefined)
    .map((disk) => ({ disk, entry: catalog.get(disk.href!)!, result: results.get(disk.href!)! }));
  const skip = new Set([manifest?.name, certificate].filter((name) => name !== undefined));
  return {
    ovfName: ovf.entry.name,
    ovf: descriptor,
    entries: catalog.entries,
    ...(manifest === undefined ? {} : { manifest }),
    ...(certificate === undefined ? {} : { certificate }),
    disks: visits,
    ...(options.verify
      ? { verification: compareManifest(manifest?.lines ?? [], catalog.entries, skip, (name, algorithm) => digests.get(name)?.get(algorithm)) }
      : {}),
    bytesRead: source.bytesRead,
  };

  /**
   * With the OVF known, only entries it names as disk files are visited (with their disk); before it, every entry
   * that may be a disk is, blind. Gzip data is inflated when declared, or, before the OVF, when it carries the magic.
   */
  async function visitIfDisk(record: Seen, tap: EntryTap): Promise<void> {
    const { entry } = record;
    let disk: OvfDisk | undefined;
    let gzip = record.gzip;
    if (ovf !== undefined) {
      const reference = fileNamed(ovf.descriptor, entry.name);
      if (reference === undefined) return;
      checkCompression(reference, record.gzip ? Uint8Array.of(0x1f, 0x8b) : new Uint8Array(0), file, record.header);
      disk = ovf.descriptor.disks.find((d) => d.href === entry.name);
      if (disk === undefined) return;
      gzip = reference.compression === 'gzip';
    } else if (NOT_A_DISK.test(entry.name) || entry.size === 0) {
      return;
    }
    const name = entrySourceName(file, entry.name);
    const input = gzip
      ? new ForwardSource(name, gunzipChunks(tap.chunks(), gzipFailure(file, entry.name, record.header)))
      : new ForwardSource(name, tap.chunks(), entry.size);
    if (disk !== undefined) {
      record.visited = { result: await visitClosing(input, entry, disk) };
      return;
    }
    // Blind: the entry may be a README; its failure is kept and only thrown if the OVF makes it a disk.
    record.visited = await visit(input, entry, undefined);
  }

  async function visit(input: ForwardSource, entry: TarEntry, disk: OvfDisk | undefined): Promise<{ result: unknown } | { error: unknown }> {
    try {
      return { result: await visitClosing(input, entry, disk) };
    } catch (error) {
      return { error };
    }
  }

  async function visitClosing(input: ForwardSource, entry: TarEntry, disk: OvfDisk | undefined): Promise<T> {
    try {
      return await options.visitDisk(input, entry, disk);
    } finally {
      await input.close().catch(() => undefined);
    }
  }
}

async function* emptyChunks(): AsyncGenerator<Uint8Array> {}

function kindOf(type: Header['type'] | null | undefined): EntryKind {
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'link':
    case 'symlink':
      return 'link';
    case 'character-device':
    case 'block-device':
    case 'fifo':
      return 'device';
    default:
      return 'unknown';
  }
}

/**
 * Writes the source into the extractor, waiting whenever it is backed up, and ends it at the end of the source.
 * A failure of the source is passed to the extractor, whose entries then fail with it.
 */
async function feed(source: ByteSource, extract: Extract): Promise<void> {
  let offset = 0;
  try {
    for (;;) {
      if (extract.destroyed) return;
      const chunk = await readSome(source, offset);
      if (chunk.length === 0) break;
      offset += chunk.length;
      if (!extract.write(chunk)) await drained(extract);
    }
    if (!extract.destroyed) extract.end(null); // streamx: end(null) is end() with no last chunk
  } catch (error) {
    extract.destroy(error as Error);
  }
}

async function readSome(source: ByteSource, offset: number): Promise<Uint8Array> {
  if (source instanceof ForwardSource) return source.readSome(offset, FEED_CHUNK);
  if (source.size === undefined) throw new DiskError('INTERNAL', 'a forward-only source must be a ForwardSource or know its size', { file: source.name });
  return source.read(offset, Math.min(FEED_CHUNK, source.size - offset));
}

function drained(extract: Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}

/** tar-stream reports damage as plain Errors with fixed messages; these become the codes the file walker uses. */
function asOvaError(error: unknown, file: string, offset: number, inEntry: boolean): DiskError {
  if (error instanceof DiskError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const fail = (code: DiskError['code'], why: string, field: string) => ovaError(file, code, `${why} (${message})`, offset, field);
  if (/Invalid tar header\. Maybe/.test(message)) return fail('BAD_CHECKSUM', 'header checksum does not match the header', 'header.checksum');
  if (/unknown format/.test(message)) return fail('BAD_HEADER', 'no ustar or GNU magic', 'header.magic');
  if (/^Invalid header$/.test(message)) return fail('BAD_HEADER', 'size field is not a number', 'header.size');
  if (/exceeds max size/.test(message)) return fail('LIMIT_EXCEEDED', `extended header exceeds the maximum of ${Limits.maxTarExtendedHeaderBytes}`, 'header.size');
  if (/Unexpected end of data|premature|destroyed/i.test(message)) {
    return fail('TRUNCATED', inEntry ? 'the tar ends inside this entry' : 'the tar ends inside a header', inEntry ? 'header.size' : 'header');
  }
  return fail('BAD_HEADER', 'the tar cannot be read', 'header');
}

/**
 * One entry's data as it streams: every chunk is hashed once, in order, whoever pulls it (the visitor's source,
 * a peek, the final drain). Pulls are serialised, so a visitor that stops mid-way and the drain that follows never
 * read the entry concurrently.
 */
class EntryTap {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly hashes: [ManifestAlgorithm, Hash][];
  private readonly queued: Uint8Array[] = [];
  private ended = false;
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    stream: AsyncIterable<Uint8Array>,
    algorithms: ManifestAlgorithm[],
    /** Turns tar-stream's plain Errors (the archive ended inside the entry) into the DiskError readers expect. */
    private readonly fail: (error: unknown) => DiskError,
  ) {
    this.iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    this.hashes = algorithms.map((algorithm) => [algorithm, createHash(algorithm)]);
  }

  private serial<R>(work: () => Promise<R>): Promise<R> {
    const result = this.turn.then(work);
    this.turn = result.catch(() => undefined);
    return result;
  }

  private async pull(): Promise<Uint8Array | undefined> {
    if (this.ended) return undefined;
    let step: IteratorResult<Uint8Array>;
    try {
      step = await this.iterator.next();
    } catch (error) {
      throw this.fail(error);
    }
    if (step.done) {
      this.ended = true;
      return undefined;
    }
    for (const [, hash] of this.hashes) hash.update(step.value);
    return step.value;
  }

  /** The next chunk, or undefined at the end of the entry. */
  next(): Promise<Uint8Array | undefined> {
    return this.serial(async () => this.queued.shift() ?? this.pull());
  }

  /** The first `count` bytes (fewer if the entry is shorter), left in place for the next reader. */
  peek(count: number): Promise<Uint8Array> {
    return this.serial(async () => {
      let have = this.queued.reduce((sum, chunk) => sum + chunk.length, 0);
      while (have < count) {
        const chunk = await this.pull();
        if (chunk === undefined) break;
        this.queued.push(chunk);
        have += chunk.length;
      }
      return Buffer.concat(this.queued).subarray(0, count);
    });
  }

  /** The whole entry, refused (by `tooBig`) before reading when its size is over `max`. */
  async readAll(size: number, max: number, tooBig: () => DiskError): Promise<Uint8Array> {
    if (size > max) throw tooBig();
    const parts: Uint8Array[] = [];
    for (let chunk = await this.next(); chunk !== undefined; chunk = await this.next()) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /** The chunks for a reader that may stop early: stopping (return) leaves the rest for drain(). */
  chunks(): AsyncIterable<Uint8Array> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const chunk = await this.next();
          return chunk === undefined ? { done: true, value: undefined } : { done: false, value: chunk };
        },
        return: async () => ({ done: true, value: undefined }),
      }),
    };
  }

  async drain(): Promise<void> {
    while ((await this.next()) !== undefined);
  }

  digests(): Map<ManifestAlgorithm, string> {
    return new Map(this.hashes.map(([algorithm, hash]) => [algorithm, hash.digest('hex')]));
  }
}
