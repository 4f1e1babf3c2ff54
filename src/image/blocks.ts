/**
 * An image's guest bytes cut at fixed block boundaries, for writers of block-allocated formats (VHD, VHDX, VMDK
 * sparse): each block that holds a non-zero byte, in order. Unallocated runs, declared-zero runs and data that
 * reads as zeros are all skipped, so the output allocates nothing the guest cannot tell from zeros.
 */
import type { DiskImage } from './types.js';
import type { OutputPiece } from './writer.js';

export interface DataBlock {
  /** Block number: the block covers guest bytes [index × blockSize, (index + 1) × blockSize). */
  readonly index: number;
  /**
   * The block's bytes, always blockSize long (past the virtual size: zeros). Valid until the next step: it is a
   * reused buffer, or a view of the reader's own chunk when that chunk covers the whole block.
   */
  readonly data: Uint8Array;
}

/** Every block of `image` holding a non-zero byte, in ascending order. */
export async function* dataBlocks(image: DiskImage, blockSize: number): AsyncGenerator<DataBlock> {
  const staging = Buffer.alloc(blockSize);
  let stagedIndex = -1; // the block `staging` holds; -1: none
  const flushStaged = function* (): Generator<DataBlock> {
    if (stagedIndex >= 0 && !isZero(staging)) yield { index: stagedIndex, data: staging };
    stagedIndex = -1;
  };
  for await (const extent of image.extents()) {
    if (extent.data === undefined) continue;
    const end = extent.offset + extent.length;
    for (let at = extent.offset; at < end; ) {
      const index = Math.floor(at / blockSize);
      const blockStart = index * blockSize;
      const take = Math.min(end, blockStart + blockSize) - at;
      const piece = extent.data.subarray(at - extent.offset, at - extent.offset + take);
      if (index !== stagedIndex) yield* flushStaged();
      if (take === blockSize) {
        // The reader's chunk covers the block: hand out a view of it, no copy.
        if (!isZero(piece)) yield { index, data: piece };
      } else {
        if (stagedIndex < 0) {
          staging.fill(0);
          stagedIndex = index;
        }
        staging.set(piece, at - blockStart);
      }
      at += take;
    }
  }
  yield* flushStaged();
}

const ZEROS = new Uint8Array(1024 * 1024);

/** True when every byte is zero (memcmp against a zero page: several GB/s, no allocation). */
export function isZero(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const end = Math.min(at + ZEROS.length, bytes.length);
    if (Buffer.compare(bytes.subarray(at, end), ZEROS.subarray(0, end - at)) !== 0) return false;
  }
  return true;
}

/** The granularity of hole detection (what `qemu-img convert -S` calls the sparse size; it defaults to 4 KiB). */
export const HOLE_BLOCK = 64 * 1024;

/** [start, end) runs of `data` that are not all zeros, at HOLE_BLOCK granularity. */
export function* nonZeroRuns(data: Uint8Array): Generator<[number, number]> {
  let runStart = -1;
  for (let at = 0; at < data.length; at += HOLE_BLOCK) {
    const zero = isZero(data.subarray(at, Math.min(at + HOLE_BLOCK, data.length)));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      yield [runStart, at];
      runStart = -1;
    }
  }
  if (runStart >= 0) yield [runStart, data.length];
}

/** A writer's view of `data`: its non-zero runs as `data` pieces, the all-zero 64 KiB runs as `zeros` (holes in a file). */
export function* dataAndHoles(data: Uint8Array): Generator<OutputPiece> {
  let position = 0;
  for (const [start, end] of nonZeroRuns(data)) {
    if (start > position) yield { kind: 'zeros', length: start - position };
    yield { kind: 'data', data: data.subarray(start, end) };
    position = end;
  }
  if (data.length > position) yield { kind: 'zeros', length: data.length - position };
}
