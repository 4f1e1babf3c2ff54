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

/** Reads hashing in pieces this big: large enough that per-call costs vanish, small enough to stay in cache. */
const HASH_CHUNK = 8 * 1024 * 1024;

/**
 * The XXH64 of `size` bytes of a random-access source, read once from the start, reporting the bytes done as it
 * goes; an abort of `signal` stops it with UPLOAD_INTERRUPTED. Two buffers: the next piece is read (on libuv's thread pool) while this one is hashed, so reading and
 * hashing take two cores rather than adding up on one.
 */
export async function hashSource(
  source: ByteSource,
  size: number,
  options: { onBytes?: (done: number) => void; signal?: AbortSignal } = {},
): Promise<string> {
  const hasher = await createContentHasher();
  const chunk = Math.min(HASH_CHUNK, size);
  const buffers = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
  const readPiece = async (index: number): Promise<Buffer> => {
    const offset = index * chunk;
    const piece = buffers[index % 2]!.subarray(0, Math.min(chunk, size - offset));
    await source.readInto(offset, piece);
    return piece;
  };
  const pieces = size === 0 ? 0 : Math.ceil(size / chunk);
  let next = pieces > 0 ? readPiece(0) : undefined;
  for (let index = 0; index < pieces; index++) {
    const piece = await next!;
    if (options.signal?.aborted) throw new DiskError('UPLOAD_INTERRUPTED', 'interrupted before anything was sent', { file: source.name });
    next = index + 1 < pieces ? readPiece(index + 1) : undefined;
    hasher.update(piece);
    options.onBytes?.(Math.min(size, (index + 1) * chunk));
  }
  return hasher.digest();
}
