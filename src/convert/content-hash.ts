/**
 * A fingerprint of an image's guest content, the same whatever format or allocation holds it: `convert --verify`
 * compares the source's with the output's as read back through our own reader.
 *
 * Definition (stable, documented in README): xxh64 (seed 0) over, for each 64 KiB-aligned guest block that holds a
 * non-zero byte, in ascending order, the block's offset as u64 little-endian followed by its 64 KiB (a last, short
 * block zero-padded). All-zero blocks add nothing, so a sparse 2 TiB disk hashes in the time its data takes, a hole
 * and a run of written zeros hash alike, and so do a disk and the same disk padded with zeros to a rounder size (VHD
 * rounds up to a whole sector): the sizes are compared apart.
 */
import { isZero } from '../image/blocks.js';
import { createContentHasher, type ContentHasher as Xxh64 } from '../upload/content-hash.js';
import type { DiskImage } from '../image/types.js';

const BLOCK = 64 * 1024;

export class ContentHasher {
  private readonly staging = new Uint8Array(BLOCK);
  /** Offset of the block in `staging`, or -1. */
  private stagedAt = -1;

  private constructor(private readonly hash: Xxh64) {}

  /** Over the same XXH64 (seed 0) the uploader stores with an object. */
  static async create(): Promise<ContentHasher> {
    return new ContentHasher(await createContentHasher());
  }

  /** Feeds guest bytes at `offset`; calls come in ascending, non-overlapping order. */
  add(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    for (let at = offset; at < end; ) {
      const blockStart = at - (at % BLOCK);
      const take = Math.min(end, blockStart + BLOCK) - at;
      const piece = data.subarray(at - offset, at - offset + take);
      if (blockStart !== this.stagedAt) this.flush();
      if (take === BLOCK) {
        this.addBlock(blockStart, piece);
      } else {
        if (this.stagedAt < 0) {
          this.staging.fill(0);
          this.stagedAt = blockStart;
        }
        this.staging.set(piece, at - blockStart);
      }
      at += take;
    }
  }

  /** The fingerprint, as 16 hex digits. */
  digest(): string {
    this.flush();
    return this.hash.digest();
  }

  private flush(): void {
    if (this.stagedAt < 0) return;
    this.addBlock(this.stagedAt, this.staging);
    this.stagedAt = -1;
  }

  private addBlock(offset: number, bytes: Uint8Array): void {
    if (isZero(bytes)) return;
    this.hash.update(u64(offset));
    this.hash.update(bytes);
  }
}

function u64(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value), true);
  return bytes;
}

/** Reads the whole image once and returns its fingerprint. */
export async function contentHash(image: DiskImage): Promise<string> {
  const hasher = await ContentHasher.create();
  for await (const extent of image.extents()) {
    if (extent.data !== undefined) hasher.add(extent.offset, extent.data);
  }
  return hasher.digest();
}
