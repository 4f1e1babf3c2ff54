/**
 * Digests of byte ranges of a file, for manifest verification. From the main thread the work runs on the
 * worker pool: the worker opens the file by path and reads the range itself, so neither the bytes nor the
 * hashing touch the main thread.
 */
import { isMainThread } from 'node:worker_threads';
import { DiskError, asDiskError } from '../errors.js';

export type DigestAlgorithm = 'sha1' | 'sha256' | 'sha512';

const ALGORITHMS: readonly string[] = ['sha1', 'sha256', 'sha512'] satisfies DigestAlgorithm[];

/** Hex digest of `length` bytes at `offset` of the file at `path`. */
export async function hashFileRange(path: string, offset: number, length: number, algorithm: DigestAlgorithm): Promise<string> {
  if (!ALGORITHMS.includes(algorithm)) {
    throw new DiskError('USAGE', `unknown digest algorithm ${JSON.stringify(algorithm)} (one of ${ALGORITHMS.join(', ')})`);
  }
  // Checked here, before a thread hop: the worker can then trust both numbers.
  if (![offset, length, offset + length].every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new DiskError('OFFSET_OUT_OF_RANGE', `invalid range: offset ${offset}, length ${length}`, { file: path });
  }
  if (!isMainThread) {
    // Already off the main thread (e.g. an OVA verified inside a checkMany probe): hash right here, rather than
    // start a pool inside this worker (a thread per core, per worker).
    const { hashRange } = await import('./worker.js');
    return hashRange(path, offset, length, algorithm);
  }
  // Loaded on first use, so importing this module (as every OVA reader does) costs no piscina load.
  const { runTask } = await import('./pool.js');
  try {
    return await runTask('hash', { path, offset, length, algorithm });
  } catch (error) {
    // A DiskError from the worker already names the file; a thread failure becomes INTERNAL.
    throw asDiskError(error, path);
  }
}
