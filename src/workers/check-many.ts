/**
 * Checks many images at once: one pool task per file, each probe on a worker thread, so a batch uses every
 * core and one bad image (a probe that throws, hangs or kills its thread) costs only its own result.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckOptions, CheckReport } from '../check.js';
import { DiskError, asDiskError } from '../errors.js';
import { runTask } from './pool.js';

export type CheckOutcome = { file: string; report: CheckReport } | { file: string; error: ReturnType<DiskError['toJSON']> };

export interface CheckManyOptions extends CheckOptions {
  /** How long one probe may run once a worker has started it (time queued does not count). Default 30 s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** setTimeout's limit (about 24.8 days); a longer delay would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * One outcome per file, in input order. A probe that throws gives that file's DiskError; one that runs past
 * timeoutMs is stopped (its worker is terminated) and gives PROBE_TIMEOUT; one whose worker dies (exit,
 * uncaught exception, out of memory) gives PROBE_CRASHED. The rest of the batch completes either way.
 */
export async function checkMany(files: string[], options: CheckManyOptions = {}): Promise<CheckOutcome[]> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, parent, ...probeOptions } = options;
  if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
    throw new DiskError('USAGE', `timeoutMs must be a number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, not ${timeoutMs}`);
  }
  if (parent !== undefined) {
    // An open image holds a file handle and methods: it cannot be cloned to another thread.
    throw new DiskError('USAGE', 'checkMany cannot take a parent image (check one file at a time with check())');
  }
  try {
    // Every task carries a structured clone of the options; a value that cannot cross would otherwise fail
    // each file in turn, looking like a crashed probe.
    structuredClone(probeOptions);
  } catch (error) {
    throw new DiskError('USAGE', `checkMany options must be plain data: ${error instanceof Error ? error.message : String(error)}`);
  }
  return Promise.all(files.map((file) => checkOne(file, probeOptions, timeoutMs)));
}

/** A task that never started but lost its worker (another probe on it hung or crashed) is run again, this often. */
const MAX_ATTEMPTS = 3;

async function checkOne(file: string, options: CheckOptions, timeoutMs: number): Promise<CheckOutcome> {
  // Stdin belongs to the main thread (a worker's process.stdin is not the terminal's or the pipe's).
  if (file === '-') return checkHere(file, options);
  for (let attempt = 1; ; attempt++) {
    const outcome = await attemptCheck(file, options, timeoutMs);
    if (outcome !== 'not started') return outcome;
    if (attempt === MAX_ATTEMPTS) {
      const error = new DiskError('PROBE_CRASHED', `the probe's worker thread died ${MAX_ATTEMPTS} times before it could start`, { file });
      return { file, error: error.toJSON() };
    }
  }
}

async function attemptCheck(file: string, options: CheckOptions, timeoutMs: number): Promise<CheckOutcome | 'not started'> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  try {
    const report = await runTask(
      'check',
      { file, options },
      {
        signal: controller.signal,
        onStart: () => {
          started = true;
          timer = setTimeout(() => controller.abort(), timeoutMs);
        },
      },
    );
    return { file, report };
  } catch (error) {
    if (error instanceof DiskError) return { file, error: error.toJSON() };
    if (!started) return 'not started';
    const reason = controller.signal.aborted
      ? new DiskError('PROBE_TIMEOUT', `the probe ran past ${timeoutMs} ms and was stopped`, { file })
      : new DiskError('PROBE_CRASHED', `the probe's worker thread died: ${error instanceof Error ? error.message : String(error)}`, { file });
    return { file, error: reason.toJSON() };
  } finally {
    clearTimeout(timer);
  }
}

async function checkHere(file: string, options: CheckOptions): Promise<CheckOutcome> {
  try {
    // Loaded only here: the readers cost this thread ~50 ms of start-up that the workers are paying meanwhile.
    const { check } = await import('../check.js');
    return { file, report: await check(file, options) };
  } catch (error) {
    return { file, error: asDiskError(error, file).toJSON() };
  }
}

/**
 * The files named by command-line arguments: a directory becomes the regular files directly in it (sorted by
 * name, not recursive, dotfiles and VMDK extent files beside their descriptor skipped; a symlink counts as what it
 * points to); anything else, including a path that does not exist or `-`, stays as given, so its check reports
 * the problem. Argument order is kept.
 */
export async function expandInputs(args: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const arg of args) {
    const entries = arg === '-' ? undefined : await directoryFiles(arg);
    files.push(...(entries ?? [arg]));
  }
  return files;
}

/** The regular files in `path` when it is a directory; undefined when it is not (or cannot be stat'ed). */
async function directoryFiles(path: string): Promise<string[] | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) return undefined;
  let names: string[];
  try {
    names = await readdir(path);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new DiskError('IO_ERROR', `cannot list the folder: ${message}`, { file: path, cause: error });
  }
  const candidates = names.filter((name) => !name.startsWith('.') && !isExtentOfSibling(name, names)).sort();
  const kept = await Promise.all(
    candidates.map(async (name) => ((await stat(join(path, name)).catch(() => undefined))?.isFile() ? join(path, name) : undefined)),
  );
  return kept.filter((file): file is string => file !== undefined);
}

/**
 * VMware's extent files (`disk-flat.vmdk`, `disk-s001.vmdk`, `disk-f001.vmdk`) are data, not images: the
 * descriptor `disk.vmdk` beside them stands for them, so a folder check skips them when it is there.
 */
function isExtentOfSibling(name: string, names: readonly string[]): boolean {
  const match = /^(.*)-(?:flat|s\d{3}|f\d{3}|delta)\.vmdk$/i.exec(name);
  return match !== null && names.includes(`${match[1]}.vmdk`);
}
