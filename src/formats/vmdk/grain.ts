/**
 * Encoding of streamOptimized grains (formats.md 1.6): a grain marker (its first guest sector and the zlib length)
 * followed by the zlib stream of the grain, padded to a whole sector. Runs on worker threads (see write-stream.ts),
 * so it is synchronous and self-contained; it writes into buffers the caller owns and passes back and forth, so a
 * batch leaves no garbage on either thread beyond zlib's own output.
 */
import { deflateSync } from 'node:zlib';
import { DiskError } from '../../errors.js';
import { isZero } from '../../image/blocks.js';
import { GrainMarker, SECTOR } from './structs.js';

/** What one batch of grains encodes to. */
export interface EncodedGrains {
  /** The batch's guest bytes, handed back for the next batch. */
  readonly data: Uint8Array;
  /** The output buffer, handed back too: its first `length` bytes are the encoded grains back to back, each sector-aligned. */
  readonly output: Uint8Array;
  readonly length: number;
  /** Per grain of the batch, in order: its encoded length in sectors, 0 for an all-zero grain (not stored). */
  readonly sectors: Uint32Array;
}

/**
 * The most a batch of `batchBytes` in grains of `grainBytes` encodes to: per grain, zlib's worst case (deflateBound
 * for any memLevel: stored blocks plus a little) and the marker, in whole sectors.
 */
export function encodedBound(batchBytes: number, grainBytes: number): number {
  const zlibBound = grainBytes + (grainBytes >> 3) + (grainBytes >> 6) + 5 + 6;
  return Math.ceil(batchBytes / grainBytes) * Math.ceil((GrainMarker.size + zlibBound) / SECTOR) * SECTOR;
}

/**
 * Deflates each `grainBytes`-long grain of `data` into `output` (at least encodedBound long). The last grain may be
 * short: it is zero-padded to a whole grain, the length every reader inflates into. `firstLba` is the guest sector
 * of the batch's first grain.
 */
export function encodeGrains(data: Uint8Array, output: Uint8Array, firstLba: number, grainBytes: number): EncodedGrains {
  const count = Math.ceil(data.length / grainBytes);
  const sectors = new Uint32Array(count);
  let at = 0;
  for (let index = 0; index < count; index++) {
    const grain = wholeGrain(data.subarray(index * grainBytes, (index + 1) * grainBytes), grainBytes);
    if (isZero(grain)) continue;
    const zlib = deflateSync(grain);
    const end = at + Math.ceil((GrainMarker.size + zlib.length) / SECTOR) * SECTOR;
    if (end > output.length) throw new DiskError('INTERNAL', `grain ${index} of the batch deflates past the ${output.length}-byte output`);
    GrainMarker.encode({ lba: BigInt(firstLba + (index * grainBytes) / SECTOR), size: zlib.length }, output, at);
    output.set(zlib, at + GrainMarker.size);
    output.fill(0, at + GrainMarker.size + zlib.length, end); // the buffer is reused: its padding must be zeroed
    sectors[index] = (end - at) / SECTOR;
    at = end;
  }
  return { data, output, length: at, sectors };
}

function wholeGrain(piece: Uint8Array, grainBytes: number): Uint8Array {
  if (piece.length === grainBytes) return piece;
  const padded = new Uint8Array(grainBytes);
  padded.set(piece);
  return padded;
}
