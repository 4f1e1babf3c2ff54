/**
 * Encoding of streamOptimized grains (formats.md 1.6): a grain marker (its first guest sector and the zlib length)
 * followed by the zlib stream of the grain, padded to a whole sector. Runs on worker threads (see write-stream.ts),
 * so it is synchronous and self-contained.
 */
import { deflateSync } from 'node:zlib';
import { isZero } from '../../image/blocks.js';
import { GrainMarker, SECTOR } from './structs.js';

/** What one batch of grains encodes to. */
export interface EncodedGrains {
  /** The encoded grains back to back, each sector-aligned; all-zero grains are left out. */
  readonly bytes: Uint8Array;
  /** Per grain of the batch, in order: its encoded length in sectors, 0 for an all-zero grain (not stored). */
  readonly sectors: Uint32Array;
}

/**
 * Deflates each `grainBytes`-long grain of `data` (the last may be short: it is zero-padded to a whole grain, the
 * length every reader inflates into). `firstLba` is the guest sector of the batch's first grain.
 */
export function encodeGrains(data: Uint8Array, firstLba: number, grainBytes: number): EncodedGrains {
  const count = Math.ceil(data.length / grainBytes);
  const sectors = new Uint32Array(count);
  const compressed: Uint8Array[] = [];
  let total = 0;
  for (let index = 0; index < count; index++) {
    const grain = wholeGrain(data.subarray(index * grainBytes, (index + 1) * grainBytes), grainBytes);
    if (isZero(grain)) continue;
    const zlib = deflateSync(grain);
    compressed.push(zlib);
    sectors[index] = Math.ceil((GrainMarker.size + zlib.length) / SECTOR);
    total += sectors[index]! * SECTOR;
  }
  const bytes = new Uint8Array(total); // zeroed: the padding after each grain is zeros
  let at = 0;
  let next = 0;
  for (let index = 0; index < count; index++) {
    if (sectors[index] === 0) continue;
    const zlib = compressed[next++]!;
    const lba = firstLba + (index * grainBytes) / SECTOR;
    GrainMarker.encode({ lba: BigInt(lba), size: zlib.length }, bytes, at);
    bytes.set(zlib, at + GrainMarker.size);
    at += sectors[index]! * SECTOR;
  }
  return { bytes, sectors };
}

function wholeGrain(piece: Uint8Array, grainBytes: number): Uint8Array {
  if (piece.length === grainBytes) return piece;
  const padded = new Uint8Array(grainBytes);
  padded.set(piece);
  return padded;
}
