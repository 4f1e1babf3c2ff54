/**
 * Joins small extents that follow one another into extents of up to MERGE_BYTES. Compressed formats hand out one
 * 64 KiB grain or cluster at a time; a writer downstream does far better with one 1 MiB write than sixteen small
 * ones, and copying a small piece costs little next to inflating it.
 */
import type { Extent } from './types.js';

const MERGE_BYTES = 1024 * 1024;
/** Pieces at least this large pass through untouched (no copy). */
const PASS_THROUGH = MERGE_BYTES / 2;

/**
 * Small data extents are copied into a staging buffer as they arrive (the upstream buffer is only valid until
 * the next step); the merged extent is valid until the next step too. Order and zero extents are kept.
 */
export async function* mergeAdjacent(extents: AsyncIterable<Extent>): AsyncGenerator<Extent> {
  const staging = Buffer.allocUnsafe(MERGE_BYTES);
  let start = 0;
  let filled = 0;
  const flush = function* (): Generator<Extent> {
    if (filled === 0) return;
    const length = filled;
    filled = 0;
    yield { offset: start, length, data: staging.subarray(0, length) };
  };
  for await (const extent of extents) {
    if (extent.data === undefined || extent.length >= PASS_THROUGH) {
      yield* flush();
      yield extent;
      continue;
    }
    if (filled > 0 && (start + filled !== extent.offset || filled + extent.length > MERGE_BYTES)) yield* flush();
    if (filled === 0) start = extent.offset;
    staging.set(extent.data, filled);
    filled += extent.length;
  }
  yield* flush();
}
