/**
 * The whole-content hash diskport stores with an object and `diskport verify` recomputes: XXH64 (seed 0, as
 * `xxhsum -H64` prints it), 16 lowercase hex digits. It is a content identity, not a security hash: it proves an
 * object equals a local file, at several GiB/s, where SHA-256 would cost more CPU than the upload itself.
 */
import xxhash from 'xxhash-wasm';
import { DiskError } from '../errors.js';
import type { ByteSource } from '../source/types.js';

/** The object metadata key (sent as the x-amz-meta-diskport-xxh64 header). */
export const HASH_METADATA_KEY = 'diskport-xxh64';

export interface ContentHasher {
  update(bytes: Uint8Array): void;
  /** The hex digest; the hasher is spent after this. */
  digest(): string;
}

let api: ReturnType<typeof xxhash> | undefined;

export async function createContentHasher(): Promise<ContentHasher> {
  api ??= xxhash();
  const hasher = (await api).create64();
  return {
    update: (bytes) => void hasher.update(bytes),
    digest: () => hasher.digest().toString(16).padStart(16, '0'),
  };
}

/** Reads hashing in pieces this big: large enough that per-call costs vanish, small enough to stay in cache (L3). */
const HASH_PIECE = 4 * 1024 * 1024;
/** Pieces being read (on libuv's thread pool) while one is hashed: reading a piece takes longer than hashing it. */
const READS_AHEAD = 2;

/**
 * The XXH64 of `size` bytes of a random-access source, read once from the start, reporting the bytes done as it
 * goes; an abort of `signal` stops it with UPLOAD_INTERRUPTED. Reads run ahead of the hashing on other threads,
 * two at a time, so the pass takes about as long as copying the file from the page cache on two cores (measured
 * on 2 GiB: 382-543 ms, against 410-646 ms with one read ahead).
 */
export async function hashSource(
  source: ByteSource,
  size: number,
  options: { onBytes?: (done: number) => void; signal?: AbortSignal } = {},
): Promise<string> {
  const hasher = await createContentHasher();
  const pieceSize = Math.min(HASH_PIECE, size);
  const free: Buffer[] = Array.from({ length: READS_AHEAD + 1 }, () => Buffer.allocUnsafe(pieceSize));
  const ahead: { buffer: Buffer; read: Promise<Buffer> }[] = [];
  let readTo = 0;
  const readAhead = (): void => {
    while (free.length > 0 && readTo < size) {
      const buffer = free.pop()!;
      const piece = buffer.subarray(0, Math.min(pieceSize, size - readTo));
      ahead.push({ buffer, read: source.readInto(readTo, piece).then(() => piece) });
      readTo += piece.length;
    }
  };
  let done = 0;
  try {
    readAhead();
    while (ahead.length > 0) {
      const { buffer, read } = ahead.shift()!;
      const piece = await read;
      if (options.signal?.aborted) throw new DiskError('UPLOAD_INTERRUPTED', 'interrupted before anything was sent', { file: source.name });
      hasher.update(piece);
      done += piece.length;
      options.onBytes?.(done);
      free.push(buffer);
      readAhead();
    }
  } finally {
    for (const { read } of ahead) read.catch(() => undefined); // reads still under way when this stopped early
  }
  return hasher.digest();
}
