/**
 * Inflating one compressed unit (a VMDK grain, a qcow2 cluster). zlib runs on libuv's thread pool, so several
 * units in flight use every core. The output chunk is sized to the whole unit: zlib's default 16 KiB chunk makes
 * several thread-pool round trips per unit and measured three times slower on 64 KiB units.
 */
import { promisify } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import { constants, inflate, inflateRaw, inflateRawSync, inflateSync } from 'node:zlib';

const inflateZlib = promisify(inflate);
const inflateDeflate = promisify(inflateRaw);
/** A worker thread runs one probe at a time: inflating in place spares it the thread-pool round trip. */
const INFLATE_IN_PLACE = !isMainThread;

export interface InflateOptions {
  /** 'zlib': RFC 1950 wrapper (VMDK); 'raw': bare deflate (qcow2). */
  wrapper: 'zlib' | 'raw';
  /** The unit's size: the most it may inflate to, so a hostile stream cannot allocate more. */
  unitBytes: number;
  /** Accept a stream that yields its bytes without an end marker (qemu's qcow2 reader does). */
  lenient?: boolean;
  /** Makes the caller's DiskError (with its offset and field) from zlib's reason. */
  fail: (reason: string) => Error;
}

export async function inflateUnit(compressed: Uint8Array, options: InflateOptions): Promise<Uint8Array> {
  const zlibOptions = {
    maxOutputLength: options.unitBytes,
    chunkSize: options.unitBytes + 4096,
    ...(options.lenient ? { finishFlush: constants.Z_SYNC_FLUSH } : {}),
  };
  try {
    if (INFLATE_IN_PLACE) return (options.wrapper === 'zlib' ? inflateSync : inflateRawSync)(compressed, zlibOptions);
    return await (options.wrapper === 'zlib' ? inflateZlib : inflateDeflate)(compressed, zlibOptions);
  } catch (error) {
    throw options.fail(error instanceof Error ? error.message : String(error));
  }
}
