/**
 * The resume state: a small JSON file beside the source (or at --state) naming the multipart upload and the
 * parts S3 has acknowledged. It is rewritten after every finished part, atomically (a temporary file, fsync,
 * rename), so a crash at any moment leaves either the previous or the next version, never half of one.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { DiskError } from '../errors.js';

export interface CompletedPart {
  partNumber: number;
  size: number;
  etag: string;
  /** The part's CRC32, base64, as S3 takes it (x-amz-checksum-crc32). */
  crc32: string;
}

export interface UploadState {
  version: 1;
  bucket: string;
  key: string;
  /** The custom endpoint, or null for AWS. */
  endpoint: string | null;
  uploadId: string;
  partSize: number;
  /** What was uploaded: a resume refuses a file that changed since. */
  source: { path: string; size: number; mtimeMs: number; xxh64: string };
  parts: CompletedPart[];
}

export function defaultStatePath(sourcePath: string): string {
  return `${sourcePath}.diskport-upload.json`;
}

/** The state at `path`, or undefined when there is none. */
export async function readState(path: string): Promise<UploadState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw stateError('read', path, error);
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    state = undefined;
  }
  if (!isUploadState(state)) {
    throw new DiskError('STATE_INVALID', 'is not a diskport upload state file (damaged?): remove it and upload without --resume', { file: path });
  }
  return state;
}

function isUploadState(value: unknown): value is UploadState {
  const state = value as UploadState | undefined;
  return (
    typeof state === 'object' && state !== null && state.version === 1 &&
    typeof state.bucket === 'string' && typeof state.key === 'string' && typeof state.uploadId === 'string' &&
    Number.isSafeInteger(state.partSize) && typeof state.source === 'object' && state.source !== null &&
    Number.isSafeInteger(state.source.size) && typeof state.source.xxh64 === 'string' && Array.isArray(state.parts) &&
    state.parts.every((part) => Number.isSafeInteger(part?.partNumber) && Number.isSafeInteger(part.size) && typeof part.etag === 'string')
  );
}

/** A state being kept up to date: record() parts as they finish; writes are serialised and coalesced. */
export class StateFile {
  private writes: Promise<void> = Promise.resolve();
  private revision = 0;
  private savedRevision = -1;

  constructor(
    readonly path: string,
    readonly state: UploadState,
  ) {}

  record(part: CompletedPart): Promise<void> {
    this.state.parts = this.state.parts.filter((known) => known.partNumber !== part.partNumber);
    this.state.parts.push(part);
    return this.save();
  }

  /** Resolves once the state as of this call is on disk (a later write may carry it). */
  save(): Promise<void> {
    const wanted = ++this.revision;
    this.writes = this.writes.then(async () => {
      if (this.savedRevision >= wanted) return;
      const revision = this.revision;
      await writeAtomically(this.path, `${JSON.stringify(this.state)}\n`);
      this.savedRevision = revision;
    });
    return this.writes;
  }

  async remove(): Promise<void> {
    await this.writes.catch(() => undefined);
    await removeState(this.path);
  }
}

export async function removeState(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(temporaryPath(path), { force: true });
}

function temporaryPath(path: string): string {
  return `${path}.tmp`;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = temporaryPath(path);
  try {
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw stateError('write', path, error);
  }
}

function stateError(verb: 'read' | 'write', path: string, error: unknown): DiskError {
  const errno = (error as NodeJS.ErrnoException).code ?? 'error';
  const reason = errno === 'ENOSPC' || errno === 'EDQUOT' ? 'the disk is full' : (error as Error).message;
  const advice = verb === 'write' ? ': free some space or put it elsewhere with --state' : '';
  return new DiskError(verb === 'write' ? 'STATE_WRITE_FAILED' : 'IO_ERROR', `cannot ${verb} the upload state: ${reason} (${errno})${advice}`, {
    file: path,
    cause: error,
  });
}
