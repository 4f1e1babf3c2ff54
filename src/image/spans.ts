/**
 * The shared read engine. A format describes its allocation as a `map(offset) -> Span` function; this module
 * turns that into the DiskImage extent iterator (coalescing contiguous reads, bounded read-ahead) and random
 * reads. Formats differ in how they find a block, never in how bytes are then fetched.
 */
import { DiskError } from '../errors.js';
import { Limits } from '../limits.js';
import type { ByteSource } from '../source/types.js';
import type { Extent } from './types.js';

/** A compressed unit (VMDK grain, qcow2 cluster): loaded whole, then sliced. `key` identifies it for caching. */
export interface CompressedUnit {
  readonly key: number;
  /** Guest offset where the unit's decompressed bytes start. */
  readonly guestOffset: number;
  /** Returns exactly the unit's decompressed bytes or throws CORRUPT_DATA. */
  load(): Promise<Uint8Array>;
}

/** What lies at a guest offset, and for how many bytes. */
export type Span =
  | { readonly kind: 'unallocated'; readonly length: number }
  | { readonly kind: 'zero'; readonly length: number }
  | { readonly kind: 'data'; readonly length: number; readonly source: ByteSource; readonly hostOffset: number }
  | { readonly kind: 'compressed'; readonly length: number; readonly unit: CompressedUnit };

/**
 * Returns the span starting at `offset` (length > 0; it may run past the end of the disk, callers clamp).
 * `wanted` is how many bytes from `offset` the caller needs: a map that scans second-level tables to make long
 * spans stops scanning there (a random 512-byte read must not walk every grain table of a 2 TiB disk).
 */
export type MapFunction = (offset: number, wanted: number) => Promise<Span>;

export interface SpanEngineOptions {
  /**
   * For forward-only sources: one fetch at a time, and each data run is handed out before the map is asked
   * about the next offset (a map may read its next table, which lies after this run's data in the file).
   */
  forwardOnly?: boolean;
  /** Most fetches in flight at once on a random-access source (default 64). */
  readAhead?: number;
}

/**
 * Bytes in flight while iterating. Enough that reads and inflation keep every core busy while the consumer writes;
 * small enough that memory stays flat (a few 4 MiB reads, or dozens of 64 KiB compressed units).
 */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

type Piece =
  | { readonly kind: 'zero'; readonly offset: number; readonly length: number }
  | { readonly kind: 'data'; readonly offset: number; readonly length: number; readonly source: ByteSource; readonly hostOffset: number }
  | { readonly kind: 'unit'; readonly offset: number; readonly length: number; readonly unit: CompressedUnit };

interface InFlight {
  readonly piece: Piece;
  readonly bytes: Promise<Uint8Array> | undefined;
  /** True when the bytes were read into the ring, whose oldest piece is given back once the consumer moves on. */
  readonly ringed: boolean;
}

/**
 * Buffers for the reads in flight, cut from one ring in the order the reads start and given back in the same order
 * (the window is first in, first out). The ring bounds memory whatever the pieces' sizes, where a pool of
 * dataChunk-sized buffers, one per read in flight, grew to 32 MiB on a qcow2 (and could reach readAhead x 4 MiB).
 * Room: when a read is added the window holds under READ_AHEAD_BYTES, and a read (at most dataChunk) fails to fit
 * only when the free space is split in two parts both shorter than it, so under 2 x dataChunk is free: a capacity
 * of READ_AHEAD_BYTES + 2 x dataChunk always fits it.
 */
class ReadRing {
  private ring: Buffer | undefined;
  /** [start, end) of each piece in use, oldest first. */
  private readonly inUse: [number, number][] = [];

  constructor(private readonly capacity: number) {}

  /** `length` bytes of the ring, after the newest piece in use (or at its start, where that has room). */
  take(length: number): Uint8Array {
    this.ring ??= Buffer.allocUnsafe(this.capacity);
    const start = this.place(length);
    this.inUse.push([start, start + length]);
    return this.ring.subarray(start, start + length);
  }

  /** Gives back the oldest piece taken. */
  release(): void {
    this.inUse.shift();
  }

  private place(length: number): number {
    const oldest = this.inUse[0]?.[0];
    const head = this.inUse.at(-1)?.[1] ?? 0;
    if (oldest === undefined) return 0;
    if (head > oldest && head + length <= this.capacity) return head;
    if (head > oldest && length <= oldest) return 0; // wrap to the start
    if (head <= oldest && head + length <= oldest) return head;
    throw new DiskError('INTERNAL', `no room for a ${length}-byte read in the ${this.capacity}-byte read ring`);
  }
}

export class SpanEngine {
  private cachedUnit: { key: number; bytes: Uint8Array } | undefined;
  private readonly readAhead: number;
  private readonly forwardOnly: boolean;

  constructor(
    private readonly map: MapFunction,
    private readonly virtualSize: number,
    options: SpanEngineOptions = {},
  ) {
    this.forwardOnly = options.forwardOnly ?? false;
    this.readAhead = this.forwardOnly ? 1 : Math.max(1, options.readAhead ?? 64);
  }

  /**
   * Allocated extents in guest order, with up to `readAhead` fetches (and READ_AHEAD_BYTES) in flight. Data read from the file lands in
   * a ring of reused memory (fresh multi-MiB buffers per read cost more than the read): an extent's `data` is valid
   * until the iterator is advanced; a consumer that keeps it must copy it.
   */
  async *extents(): AsyncGenerator<Extent> {
    // A disk smaller than the ring is read in one pass without wrapping, so it needs no more than its size.
    const ring = new ReadRing(Math.min(READ_AHEAD_BYTES + 2 * Limits.dataChunk, this.virtualSize));
    const window: InFlight[] = [];
    let windowBytes = 0;
    const start = (piece: Piece): InFlight => {
      if (piece.kind === 'zero') return { piece, bytes: undefined, ringed: false };
      if (piece.kind === 'unit') {
        const skip = piece.offset - piece.unit.guestOffset;
        return { piece, bytes: piece.unit.load().then((bytes) => bytes.subarray(skip, skip + piece.length)), ringed: false };
      }
      const target = ring.take(piece.length);
      return { piece, bytes: piece.source.readInto(piece.hostOffset, target).then(() => target), ringed: true };
    };
    const next = async function* (): AsyncGenerator<Extent> {
      const entry = window.shift()!;
      const { piece } = entry;
      windowBytes -= piece.length;
      if (entry.bytes === undefined) yield { offset: piece.offset, length: piece.length, zero: true };
      else yield { offset: piece.offset, length: piece.length, data: await entry.bytes };
      if (entry.ringed) ring.release();
    };
    for await (const piece of this.pieces()) {
      const entry = start(piece);
      entry.bytes?.catch(() => undefined); // awaited below, in order; this only silences early rejections
      window.push(entry);
      windowBytes += piece.length;
      while (window.length >= this.readAhead || windowBytes >= READ_AHEAD_BYTES) yield* next();
    }
    while (window.length > 0) yield* next();
  }

  /** Walks the map from 0 to virtualSize, merging contiguous data spans into reads of up to dataChunk bytes. */
  private async *pieces(): AsyncGenerator<Piece> {
    let run: { offset: number; length: number; source: ByteSource; hostOffset: number } | undefined;
    const flush = function* (): Generator<Piece> {
      if (run === undefined) return;
      yield { kind: 'data', ...run };
      run = undefined;
    };
    let offset = 0;
    while (offset < this.virtualSize) {
      if (this.forwardOnly) yield* flush();
      const span = await this.map(offset, this.virtualSize - offset);
      const length = Math.min(span.length, this.virtualSize - offset);
      if (!(length > 0)) throw new DiskError('INTERNAL', `allocation map returned an empty span at ${offset}`);
      if (span.kind === 'data') {
        for (let done = 0; done < length; ) {
          const hostOffset = span.hostOffset + done;
          const canExtend =
            run !== undefined && run.source === span.source && run.hostOffset + run.length === hostOffset &&
            run.offset + run.length === offset + done && run.length < Limits.dataChunk;
          if (!canExtend) {
            yield* flush();
            run = { offset: offset + done, length: 0, source: span.source, hostOffset };
          }
          const take = Math.min(length - done, Limits.dataChunk - run!.length);
          run!.length += take;
          done += take;
        }
      } else {
        yield* flush();
        if (span.kind === 'zero') yield { kind: 'zero', offset, length };
        if (span.kind === 'compressed') yield { kind: 'unit', offset, length, unit: span.unit };
      }
      offset += length;
    }
    yield* flush();
  }

  /** Random read of guest bytes. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (length > Limits.maxRead) {
      throw new DiskError('LIMIT_EXCEEDED', `read of ${length} bytes exceeds the maximum of ${Limits.maxRead}`);
    }
    if (offset < 0 || offset + length > this.virtualSize) {
      throw new DiskError('TRUNCATED', `guest bytes ${offset}..${offset + length} lie past the disk's end (${this.virtualSize})`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const span = await this.map(offset + done, length - done);
      const take = Math.min(span.length, length - done);
      if (!(take > 0)) throw new DiskError('INTERNAL', `allocation map returned an empty span at ${offset + done}`);
      if (span.kind === 'data') out.set(await span.source.read(span.hostOffset, take), done);
      if (span.kind === 'compressed') {
        const unit = await this.loadCached(span.unit);
        const skip = offset + done - span.unit.guestOffset;
        out.set(unit.subarray(skip, skip + take), done);
      }
      done += take;
    }
    return out;
  }

  private async loadCached(unit: CompressedUnit): Promise<Uint8Array> {
    if (this.cachedUnit?.key !== unit.key) this.cachedUnit = { key: unit.key, bytes: await unit.load() };
    return this.cachedUnit.bytes;
  }
}
