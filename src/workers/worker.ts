/**
 * The one worker entry of the pool (see pool.ts). Each task names its `kind`; the worker does the I/O for it
 * itself (opens the file by path), so only paths, numbers and the JSON-ready result cross the thread boundary.
 *
 * Results come back as an envelope, never as a thrown error: structured clone keeps an Error's message but drops
 * its `code`, `file` and `offset`, so a DiskError travels as its toJSON() and the main side rebuilds it. A
 * rejection seen by the main side therefore always means the thread itself failed (exit, crash, abort).
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { CheckOptions, CheckReport } from '../check.js';
import { DiskError, asDiskError } from '../errors.js';
import { encodeGrains, type EncodedGrains } from '../formats/vmdk/grain.js';
import type { DigestAlgorithm } from './hash.js';

export interface HashTask {
  kind: 'hash';
  id: number;
  path: string;
  offset: number;
  length: number;
  algorithm: DigestAlgorithm;
}

export interface CheckTask {
  kind: 'check';
  id: number;
  file: string;
  /** Only structured-clonable options (check-many.ts refuses `parent`, an open image). */
  options: CheckOptions;
}

/**
 * Deflates a batch of streamOptimized VMDK grains into `output`; both buffers arrive transferred and go back
 * transferred with the result, to be used again.
 */
export interface DeflateGrainsTask {
  kind: 'deflateGrains';
  id: number;
  data: Uint8Array;
  output: Uint8Array;
  firstLba: number;
  grainBytes: number;
}

export type WorkerTask = HashTask | CheckTask | DeflateGrainsTask;

/** What each kind of task yields. */
export interface TaskValues {
  hash: string;
  check: CheckReport;
  deflateGrains: EncodedGrains;
}

export type SerializedError = ReturnType<DiskError['toJSON']>;

export type Envelope<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

/** Posted on parentPort as a task begins, so the main side can time the task itself and not its wait in the queue. */
export interface StartedNotice {
  started: number;
}

/**
 * Reads are this large: big enough that syscall and event-loop overhead is small next to hashing a chunk
 * (measured on a warm 1 GiB file: 256 KiB is ~7% slower; 1, 4 and 8 MiB are within noise), and the two
 * buffers stay small.
 */
const CHUNK = 1024 * 1024;

/**
 * Test-only faults, off unless DISKPORT_TEST_FAULTS=1 is in the environment the worker starts with (the pool
 * passes process.env on). A check task whose file name ends in one of these suffixes misbehaves instead of
 * probing, so test/workers.test.ts can prove that checkMany survives each failure without touching check.ts:
 * `.hang` spins forever (a parser stuck in a loop), `.crash` calls process.exit, `.throw` throws outside any
 * task promise (an uncaught exception), `.oom` fills the heap until the worker's resource limit kills it.
 */
const FAULTS = process.env.DISKPORT_TEST_FAULTS === '1';

/**
 * The pool hands each worker a second task while it runs one (concurrentTasksPerWorker), so no thread idles
 * waiting for the main thread to dispatch; but tasks still run one at a time, in order. A task announces itself
 * (and its timeout clock starts) only when its turn comes, so a probe that hangs never makes the task queued
 * behind it look hung: that one never started, and the main side runs it again elsewhere.
 */
let turn: Promise<unknown> = Promise.resolve();

export default function run(task: WorkerTask): Promise<unknown> {
  const mine = turn.then(() => runNow(task)).then(withTransfers);
  turn = mine.catch(() => undefined);
  return mine;
}

async function runNow(task: WorkerTask): Promise<Envelope<TaskValues[WorkerTask['kind']]>> {
  parentPort?.postMessage({ started: task.id } satisfies StartedNotice);
  try {
    switch (task.kind) {
      case 'hash':
        return { ok: true, value: await hashRange(task.path, task.offset, task.length, task.algorithm) };
      case 'check':
        if (FAULTS) await injectFault(task.file);
        return { ok: true, value: await runCheck(task.file, task.options) };
      case 'deflateGrains':
        return { ok: true, value: encodeGrains(task.data, task.output, task.firstLba, task.grainBytes) };
    }
  } catch (error) {
    const file = task.kind === 'hash' ? task.path : task.kind === 'check' ? task.file : undefined;
    return { ok: false, error: asDiskError(error, file).toJSON() };
  }
}

/**
 * Marks encoded grains (and the batch's buffers) to be moved, not copied, back to the main thread: piscina
 * transfers the buffers a result names under its transferable symbol (structured clone would copy every byte).
 */
function withTransfers(envelope: Envelope<TaskValues[WorkerTask['kind']]>): unknown {
  if (!envelope.ok || typeof envelope.value !== 'object' || !('sectors' in envelope.value)) return envelope;
  const { data, output, sectors } = envelope.value;
  return Piscina.move({
    [Piscina.transferableSymbol]: [data.buffer, output.buffer, sectors.buffer],
    [Piscina.valueSymbol]: envelope,
  } as never);
}

/** What the pool tells each worker as it starts (piscina's workerData). */
export interface WorkerSettings {
  /** Load check.js at start: the pool was made for checks. */
  preloadCheck: boolean;
}

/**
 * check.js pulls in every format reader (~50 ms of loading, ~20 MiB of heap). When the pool is made for checks it
 * is loaded as the worker starts, so the loading overlaps the pool's start-up and the first tasks' dispatch instead
 * of delaying the first probe; a pool made for deflate (convert) loads it only if a check task ever comes, and its
 * threads stay small.
 */
let checkModule: Promise<typeof import('../check.js')> | undefined;
function loadCheck(): Promise<typeof import('../check.js')> {
  checkModule ??= import('../check.js');
  return checkModule;
}
if ((Piscina.workerData as WorkerSettings | undefined)?.preloadCheck) loadCheck().catch(() => undefined); // a failed load is reported by the check task

async function runCheck(file: string, options: CheckOptions): Promise<CheckReport> {
  return (await loadCheck()).check(file, options);
}

/**
 * Hashes `length` bytes at `offset` with two buffers: the read of the next chunk is in flight (on libuv's
 * thread pool) while this thread hashes the current one, so the time is about max(read, hash), not the sum.
 * Exported for hash.ts, which calls it directly when it already runs on a worker thread.
 */
export async function hashRange(path: string, offset: number, length: number, algorithm: DigestAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  const handle = await openForRead(path);
  let pending: Promise<number> | undefined;
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new DiskError('IO_ERROR', 'is a directory, not a file', { file: path });
    // A regular file's size is known: refuse a range past its end before reading a byte. (A block device's
    // stat size is 0, so for one the end shows up as a zero-byte read below.)
    if (stat.isFile() && offset + length > stat.size) {
      throw new DiskError('TRUNCATED', `bytes ${offset}..${offset + length} lie past the end of the ${stat.size}-byte file`, {
        file: path,
        offset: stat.size,
      });
    }
    const buffers = [Buffer.allocUnsafe(Math.min(CHUNK, length)), Buffer.allocUnsafe(Math.min(CHUNK, length))] as const;
    const readAt = (buffer: Buffer, at: number): Promise<number> =>
      handle.read(buffer, 0, Math.min(buffer.length, offset + length - at), at).then(
        (result) => result.bytesRead,
        (error: unknown) => Promise.reject(ioError(path, error)),
      );
    let done = 0;
    let current = 0;
    pending = length > 0 ? readAt(buffers[0], offset) : undefined;
    while (pending !== undefined) {
      const got = await pending;
      pending = undefined;
      if (got === 0) {
        throw new DiskError('TRUNCATED', `file ended at ${offset + done} while reading ${length} bytes from ${offset}`, {
          file: path,
          offset: offset + done,
        });
      }
      done += got;
      // Start the next read into the other buffer before hashing this one.
      if (done < length) pending = readAt(buffers[1 - current]!, offset + done);
      hash.update(buffers[current]!.subarray(0, got));
      current = 1 - current;
    }
  } finally {
    // A read still in flight when something threw is settled (and its error dropped) before the handle closes.
    await pending?.catch(() => undefined);
    await handle.close();
  }
  return hash.digest('hex');
}

async function openForRead(path: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw ioError(path, error);
  }
  return handle;
}

function ioError(path: string, error: unknown): DiskError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new DiskError('FILE_NOT_FOUND', 'no such file', { file: path });
  const message = error instanceof Error ? error.message : String(error);
  return new DiskError('IO_ERROR', `cannot read: ${message}`, { file: path, cause: error });
}

async function injectFault(file: string): Promise<void> {
  const name = basename(file);
  if (name.endsWith('.hang')) for (;;);
  if (name.endsWith('.crash')) process.exit(70);
  if (name.endsWith('.throw')) {
    setImmediate(() => {
      throw new Error('injected uncaught exception');
    });
    await new Promise<never>(() => undefined);
  }
  if (name.endsWith('.oom')) {
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array<number>(4 * 1024 * 1024).fill(hoard.length));
  }
}
