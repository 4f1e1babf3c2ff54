/**
 * `upload(source, target, options)`: a file (or any ByteSource, or a stream of bytes) to an S3 object by
 * parallel multipart upload, with a CRC32 per part, the content's XXH64 as object metadata, a resume state
 * file, and a clean abort on failure (the policy is in session.ts).
 */
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { DiskError } from '../errors.js';
import { FileSource } from '../source/file.js';
import { openSource } from '../source/open.js';
import type { ByteSource } from '../source/types.js';
import { createS3Client, type S3ClientOptions } from './client.js';
import { HASH_METADATA_KEY, createContentHasher, hashSource } from './content-hash.js';
import { checkTarget, createMultipart } from './multipart.js';
import { BufferPool, sourceParts, streamParts } from './part-loop.js';
import { planParts, type PartPlan } from './part-size.js';
import { prepareResume, type ResumeSubject } from './resume.js';
import { UploadSession, abortQuietly } from './session.js';
import { StateFile, defaultStatePath, readState, removeState, type CompletedPart, type UploadState } from './state.js';
import { parseS3Url, s3Url, type S3Target } from './target.js';

export interface UploadProgress {
  /** `hash`: reading the file once for its XXH64 (stored as metadata); `upload`: sending parts. */
  phase: 'hash' | 'upload';
  bytes: number;
  /** undefined for a stream of unknown length. */
  total: number | undefined;
}

export interface UploadOptions extends S3ClientOptions {
  partSize?: number;
  concurrency?: number;
  /** Continue the upload named in the state file instead of starting one. */
  resume?: boolean;
  /** Where the resume state lives; default `<file>.diskport-upload.json` beside a file source. */
  statePath?: string;
  /** A stream's most likely length (a conversion's bound), to choose the part size. */
  expectedSize?: number;
  onProgress?: (progress: UploadProgress) => void;
  /** Aborting it interrupts the upload and keeps it resumable. */
  signal?: AbortSignal;
  /** An S3 client to use instead of making one from the options. */
  client?: S3Client;
}

export interface UploadResult {
  bucket: string;
  key: string;
  url: string;
  size: number;
  parts: number;
  partSize: number;
  concurrency: number;
  uploadId: string;
  etag: string;
  /** XXH64 of the content, hex. */
  xxh64: string;
  /** True when xxh64 is stored as the object's diskport-xxh64 metadata (a file: yes; a stream: it is known too late). */
  xxh64Stored: boolean;
  checksumAlgorithm: 'CRC32';
  resumed: boolean;
  /** Parts sent by this run (a resume sends only the missing ones). */
  partsSent: number;
  /** For ImportImage's ClientData: when the upload started and ended (ISO 8601), and its size in GiB. */
  uploadStart: string;
  uploadEnd: string;
  uploadSize: number;
  seconds: number;
}

type Input = string | ByteSource | AsyncIterable<Uint8Array>;

const GiB = 2 ** 30;

export async function upload(input: Input, target: string | S3Target, options: UploadOptions = {}): Promise<UploadResult> {
  const source = typeof input === 'string' ? await openSource(input) : input;
  try {
    if (isSeekable(source)) return await uploadSource(source, target, options);
    const name = 'name' in source && typeof source.name === 'string' ? source.name : 'stream';
    return await uploadStream(asChunks(source), name, target, options);
  } finally {
    if (typeof input === 'string') await (source as ByteSource).close();
  }
}

function isSeekable(source: ByteSource | AsyncIterable<Uint8Array>): source is ByteSource {
  return 'seekable' in source && source.seekable && source.size !== undefined;
}

/** A forward-only ByteSource (a pipe) read as chunks; an async iterable as it is. */
async function* asChunks(source: ByteSource | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (Symbol.asyncIterator in source) {
    yield* source;
    return;
  }
  const piece = Buffer.allocUnsafe(4 * 1024 * 1024);
  const forward = source as ByteSource & { readSomeInto?: (offset: number, target: Uint8Array) => Promise<number> };
  if (forward.readSomeInto === undefined) throw new DiskError('NOT_SEEKABLE', 'cannot be read as a stream', { file: source.name });
  for (let offset = 0; ; ) {
    const got = await forward.readSomeInto(offset, piece);
    if (got === 0) return;
    yield piece.subarray(0, got);
    offset += got;
  }
}

function resolveTarget(target: string | S3Target, sourceName: string): S3Target {
  return typeof target === 'string' ? parseS3Url(target, basename(sourceName)) : target;
}

interface FileIdentity {
  path: string;
  mtimeMs: number;
}

/** The file as it was when this run began: a change by the end fails the upload. */
async function identity(source: ByteSource): Promise<FileIdentity | undefined> {
  if (!(source instanceof FileSource) || source.name === '-') return undefined;
  const info = await stat(source.path);
  return { path: resolve(source.path), mtimeMs: info.mtimeMs };
}

async function uploadSource(source: ByteSource, targetInput: string | S3Target, options: UploadOptions): Promise<UploadResult> {
  const size = source.size!;
  const target = resolveTarget(targetInput, source.name);
  const file = await identity(source);
  const statePath = options.statePath ?? (file === undefined ? undefined : defaultStatePath(file.path));
  const previous = statePath === undefined ? undefined : await readState(statePath);
  if (options.resume && previous === undefined) {
    throw new DiskError('RESUME_UNAVAILABLE', `there is no upload to resume (no state file ${statePath ?? '(none: give --state)'})`, { file: s3Url(target) });
  }
  const plan = planParts({ size, name: source.name, partSize: options.resume ? previous!.partSize : options.partSize, concurrency: options.concurrency });
  const client = options.client ?? (await createS3Client(options));
  await checkTarget(client, target);
  const uploadStart = new Date();
  // One read of the whole file before the upload: the XXH64 must be known to create the upload (metadata is
  // fixed then). The part CRC32s are computed as parts are sent, where the main thread mostly waits on the network.
  const xxh64 = await hashSource(source, size, {
    onBytes: (bytes) => options.onProgress?.({ phase: 'hash', bytes, total: size }),
    signal: options.signal,
  });
  const { session, done } = options.resume
    ? await resumeSession(client, previous!, statePath!, { target, size, xxh64, name: source.name }, options)
    : await newSession(client, target, { statePath, previous, plan, file, size, xxh64 }, options);

  const pool = new BufferPool(plan.concurrency + 1, Math.min(plan.partSize, Math.max(size, 1)));
  const skip = new Set(done.map((part) => part.partNumber));
  const parts = sourceParts(source, size, plan.partSize, skip, pool);
  const sent = await session.send(parts, { concurrency: plan.concurrency, total: size, done });
  await checkUnchanged(source, file, size, session);
  const etag = await session.complete([...done, ...sent], size);
  return result({ plan, session, etag, xxh64, xxh64Stored: true, size, parts: done.length + sent.length, partsSent: sent.length, resumed: Boolean(options.resume), uploadStart });
}

async function uploadStream(chunks: AsyncIterable<Uint8Array>, name: string, targetInput: string | S3Target, options: UploadOptions): Promise<UploadResult> {
  if (options.resume) throw new DiskError('RESUME_UNAVAILABLE', 'a stream cannot be resumed: upload a file to be able to resume', { file: name });
  const target = resolveTarget(targetInput, name);
  const plan = planParts({ size: undefined, expectedSize: options.expectedSize, name, partSize: options.partSize, concurrency: options.concurrency });
  const client = options.client ?? (await createS3Client(options));
  const uploadStart = new Date();
  // The content hash of a stream is known only at its end, after the object's metadata was fixed: it is
  // returned (and printed) but not stored; `diskport verify s3://... FILE` compares against a file instead.
  const session = new UploadSession(await createMultipart(client, target, {}), undefined, options, false);
  const hasher = await createContentHasher();
  const pool = new BufferPool(plan.concurrency + 1, plan.partSize);
  const parts = streamParts(chunks, plan.partSize, pool, hasher, name);
  const sent = await session.send(parts, { concurrency: plan.concurrency, total: undefined, done: [] });
  const size = sent.reduce((sum, part) => sum + part.size, 0);
  const etag = await session.complete(sent, size);
  return result({ plan, session, etag, xxh64: hasher.digest(), xxh64Stored: false, size, parts: sent.length, partsSent: sent.length, resumed: false, uploadStart });
}

interface Fresh {
  statePath: string | undefined;
  /** A state left by an earlier upload of this file, which starting afresh abandons. */
  previous: UploadState | undefined;
  plan: PartPlan;
  file: FileIdentity | undefined;
  size: number;
  xxh64: string;
}

/** A new multipart upload, with the content hash as metadata and a state file to resume it by. */
async function newSession(client: S3Client, target: S3Target, fresh: Fresh, options: UploadOptions): Promise<{ session: UploadSession; done: CompletedPart[] }> {
  const endpoint = options.endpointUrl ?? null;
  if (fresh.previous !== undefined) {
    // Abort the earlier upload so it leaves nothing behind (when it went to the same server).
    const { bucket, key, uploadId } = fresh.previous;
    if (fresh.previous.endpoint === endpoint) await abortQuietly({ client, target: { bucket, key }, uploadId });
    await removeState(fresh.statePath!);
  }
  const multipart = await createMultipart(client, target, { [HASH_METADATA_KEY]: fresh.xxh64 });
  const state: UploadState = {
    version: 1,
    bucket: target.bucket,
    key: target.key,
    endpoint,
    uploadId: multipart.uploadId,
    partSize: fresh.plan.partSize,
    source: { path: fresh.file?.path ?? '', size: fresh.size, mtimeMs: fresh.file?.mtimeMs ?? 0, xxh64: fresh.xxh64 },
    parts: [],
  };
  const session = new UploadSession(multipart, fresh.statePath === undefined ? undefined : new StateFile(fresh.statePath, state), options, false);
  await session.begin();
  return { session, done: [] };
}

async function resumeSession(
  client: S3Client,
  previous: UploadState,
  statePath: string,
  subject: ResumeSubject,
  options: UploadOptions,
): Promise<{ session: UploadSession; done: CompletedPart[] }> {
  const { multipart, done } = await prepareResume(client, previous, subject);
  const state = new StateFile(statePath, { ...previous, parts: done });
  return { session: new UploadSession(multipart, state, options, true), done };
}

/** A file that grew, shrank or was rewritten while it was read makes an object that is neither version. */
async function checkUnchanged(source: ByteSource, file: FileIdentity | undefined, size: number, session: UploadSession): Promise<void> {
  if (file === undefined) return;
  const now = await stat(file.path);
  if (now.size === size && now.mtimeMs === file.mtimeMs) return;
  const error = new DiskError('SOURCE_CHANGED', `the file changed while it was uploaded (${size} bytes before, ${now.size} now): upload it again once it is stable`, {
    file: source.name,
  });
  throw await session.fail(error, true);
}

interface Outcome {
  plan: PartPlan;
  session: UploadSession;
  etag: string;
  xxh64: string;
  xxh64Stored: boolean;
  size: number;
  parts: number;
  partsSent: number;
  resumed: boolean;
  uploadStart: Date;
}

function result({ plan, session, etag, xxh64, xxh64Stored, size, parts, partsSent, resumed, uploadStart }: Outcome): UploadResult {
  const uploadEnd = new Date();
  const { target, uploadId } = session.multipart;
  return {
    bucket: target.bucket,
    key: target.key,
    url: s3Url(target),
    size,
    parts,
    partSize: plan.partSize,
    concurrency: plan.concurrency,
    uploadId,
    etag,
    xxh64,
    xxh64Stored,
    checksumAlgorithm: 'CRC32',
    resumed,
    partsSent,
    uploadStart: uploadStart.toISOString(),
    uploadEnd: uploadEnd.toISOString(),
    uploadSize: Math.round((size / GiB) * 1e6) / 1e6,
    seconds: (uploadEnd.getTime() - uploadStart.getTime()) / 1000,
  };
}
