/**
 * The one piscina pool diskport puts CPU work on (manifest hashing, many-image checks). Created on first use,
 * so a command that never needs it never starts a thread.
 *
 * It never keeps the process alive: piscina unrefs idle workers, so a CLI exits as soon as its own work is
 * done, without calling destroyPool(). idleTimeout reaps the extra threads of a burst soon after it ends.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { DiskError, ErrorCodes, type ErrorCode } from '../errors.js';
import type { Envelope, SerializedError, StartedNotice, TaskValues, WorkerSettings, WorkerTask } from './worker.js';

/** Threads past the first go after this long idle. */
const IDLE_TIMEOUT_MS = 1000;
/**
 * Heap cap per worker. A probe reads headers and tables (Buffers, which live outside this heap), so it needs
 * little; a hostile image that makes one balloon then kills only its worker (ERR_WORKER_OUT_OF_MEMORY, reported
 * as that file's failure) instead of the whole process hitting the machine's memory limit.
 */
const WORKER_HEAP_MB = 512;

let pool: Promise<Piscina> | undefined;
/** Threads the pool runs (every one started up front: see createPool). */
let threads = availableParallelism();
let nextTaskId = 1;
/** onStart callbacks of tasks not yet started, by task id (see StartedNotice). */
const startListeners = new Map<number, () => void>();

export interface RunTaskOptions {
  /** Buffers moved to the worker instead of copied (the caller must not touch them after). */
  transferList?: ArrayBuffer[];
  /** Aborting terminates the worker running the task (piscina's behaviour), or drops it from the queue. */
  signal?: AbortSignal;
  /** Called when a worker begins the task (not when it is queued); never after the task settled. */
  onStart?: () => void;
}

/**
 * Runs one task on the pool. Resolves with its value; rejects with the DiskError the task reported (rebuilt on
 * this side), or with piscina's error when the thread failed: aborted, exited, crashed, out of memory.
 */
export async function runTask<K extends WorkerTask['kind']>(
  kind: K,
  fields: Omit<Extract<WorkerTask, { kind: K }>, 'kind' | 'id'>,
  options: RunTaskOptions = {},
): Promise<TaskValues[K]> {
  const id = nextTaskId++;
  if (options.onStart !== undefined) startListeners.set(id, options.onStart);
  try {
    const piscina = await getPool(kind === 'check');
    const envelope = (await piscina.run({ ...fields, kind, id }, { signal: options.signal ?? null, transferList: options.transferList })) as Envelope<TaskValues[K]>;
    if (!envelope.ok) throw rebuildError(envelope.error);
    return envelope.value;
  } finally {
    startListeners.delete(id);
  }
}

/**
 * Sizes the pool (convert --workers). A pool of another size is stopped first, so call this before starting work,
 * not while other tasks run.
 */
export async function setPoolThreads(count: number): Promise<void> {
  if (count === threads) return;
  threads = count;
  await destroyPool();
}

/** Stops every worker (pending tasks reject). The next runTask starts a fresh pool. */
export async function destroyPool(): Promise<void> {
  const current = pool;
  pool = undefined;
  await (await current?.catch(() => undefined))?.destroy();
}

/** A DiskError from its toJSON() form, as it crossed the thread boundary. */
export function rebuildError(error: SerializedError): DiskError {
  const code = typeof error.code === 'string' && error.code in ErrorCodes ? (error.code as ErrorCode) : 'INTERNAL';
  const text = (key: string): string | undefined => (typeof error[key] === 'string' ? (error[key] as string) : undefined);
  return new DiskError(code, String(error.message), {
    file: text('file'),
    format: text('format'),
    field: text('field'),
    offset: typeof error.offset === 'number' ? error.offset : undefined,
  });
}

/** `forChecks`: the first task is a check, so the workers load the readers as they start (see worker.ts). */
function getPool(forChecks: boolean): Promise<Piscina> {
  pool ??= createPool(forChecks).catch((error: unknown) => {
    pool = undefined; // so the next call tries again (e.g. after a build) instead of failing forever
    throw error;
  });
  return pool;
}

async function createPool(forChecks: boolean): Promise<Piscina> {
  const filename = workerFile();
  if (!existsSync(filename)) {
    throw new DiskError('INTERNAL', `the worker script ${filename} is missing: run npm run build`);
  }
  // Loaded here, not at the top: every CLI command imports this module, few need a thread.
  const { Piscina } = await import('piscina');
  const created = new Piscina({
    filename,
    maxThreads: threads,
    // Every thread from the start: each spends ~50 ms loading the readers, better done while the first tasks
    // queue than after piscina notices the queue. They stay (idle and unref'd, so they delay no exit), and that
    // matters too: piscina replaces a dead or aborted worker only up to minThreads, and queued tasks hold nothing
    // on the event loop, so with 0 a batch whose running probes all crashed or timed out had no thread left for
    // its queued files and a CLI's node quit mid-batch (the test "finishes in a process of its own" catches it).
    minThreads: threads,
    // One task queued inside each worker behind the one it runs (worker.ts runs them in turn): the next probe
    // starts without a round trip through the main thread. Measured on bench/check: 1.3-1.4x -> 1.5-1.7x.
    concurrentTasksPerWorker: 2,
    idleTimeout: IDLE_TIMEOUT_MS,
    workerData: { preloadCheck: forChecks } satisfies WorkerSettings,
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  });
  created.on('message', (message: unknown) => {
    if (typeof message !== 'object' || message === null || !('started' in message)) return;
    const id = (message as StartedNotice).started;
    const listener = startListeners.get(id);
    startListeners.delete(id);
    listener?.();
  });
  // piscina emits 'error' for a worker that fails while running no task (e.g. an exception thrown after its
  // task settled). Nothing is waiting on it and the pool replaces the worker; without a listener the
  // EventEmitter would rethrow it and take the process down.
  created.on('error', () => undefined);
  return created;
}

function workerFile(): string {
  // Under vitest this module is src/workers/pool.ts (import.meta.url ends in .ts), and a worker thread cannot
  // load TypeScript; the test command runs tsc first, so the compiled twin in dist/workers/ is current.
  const url = import.meta.url.endsWith('.ts')
    ? new URL('../../dist/workers/worker.js', import.meta.url)
    : new URL('./worker.js', import.meta.url);
  return fileURLToPath(url);
}
