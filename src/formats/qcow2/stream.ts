/**
 * Reading qcow2 from a pipe. qemu-img convert writes header, L1, then each L2 table before the data it maps, all
 * in guest order, so one forward pass works when every read is issued in that order:
 * - the shared engine, on a forward-only source, finishes each data read before it asks for the next span (which
 *   may read the next L2 table);
 * - compressed clusters are packed byte by byte into a partly used host cluster, and qemu goes on filling that
 *   cluster after it has placed uncompressed clusters further on (so `convert -c` output steps back by up to a
 *   cluster), and each compressed cluster is read to the end of its last sector, which holds the start of the next
 *   one. ForwardReader keeps what a forward skip passes over in a partly read cluster, and the last sector of
 *   every read that ends inside a cluster, so those reads are served from memory.
 * Any other layout ends in BACKWARD_READ from the source, which is the honest answer.
 */
import { DiskError } from '../../errors.js';
import { ForwardSource } from '../../source/forward.js';
import type { ByteSource } from '../../source/types.js';

/** Bytes kept from the end of a read that stops inside a cluster (compressed clusters share at most a sector). */
const TAIL_KEEP = 512;
/** Bounds on what is kept: the oldest regions go first. */
const KEEP_BYTES = 8 * 1024 * 1024;
const KEEP_REGIONS = 256;

interface Region {
  readonly start: number;
  readonly bytes: Uint8Array;
}

export class ForwardReader implements ByteSource {
  readonly seekable = false;
  private regions: Region[] = [];
  private lastTail: Region | undefined;
  private keptBytes = 0;
  /** End of the furthest read passed to the source. */
  private position = 0;

  constructor(
    private readonly inner: ByteSource,
    private readonly clusterSize: number,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get size(): number | undefined {
    return this.inner.size;
  }

  get bytesRead(): number {
    return this.inner.bytesRead;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.fetch(offset, length, false);
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    target.set(await this.read(offset, target.length));
  }

  /** Up to `max` bytes: fewer where a pipe of unknown length ends. */
  readUpTo(offset: number, max: number): Promise<Uint8Array> {
    return this.fetch(offset, max, this.inner instanceof ForwardSource);
  }

  private async fetch(offset: number, length: number, upTo: boolean): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    const end = offset + length;
    for (let cursor = offset; cursor < end; ) {
      const region = cursor < this.position ? this.regionAt(cursor) : undefined;
      if (region === undefined) {
        // Ahead of everything read so far, or not kept: the source serves it (or says BACKWARD_READ).
        parts.push(await this.advance(cursor, end - cursor, upTo));
        break;
      }
      const take = Math.min(end, region.start + region.bytes.length) - cursor;
      parts.push(region.bytes.subarray(cursor - region.start, cursor - region.start + take));
      cursor += take;
    }
    const bytes = concat(parts);
    if (bytes.length > 0) {
      const bytesEnd = offset + bytes.length;
      const tail = { start: bytesEnd - Math.min(TAIL_KEEP, bytes.length), bytes: bytes.slice(Math.max(0, bytes.length - TAIL_KEEP)) };
      // The last read's tail always (the next compressed cluster may start in it, even past a cluster boundary);
      // a tail inside a cluster also for later (qemu comes back to fill that cluster).
      this.lastTail = tail;
      if (bytesEnd % this.clusterSize !== 0) this.keep(tail.start, tail.bytes);
    }
    return bytes;
  }

  /** Reads from the source; a skip that leaves a partly read cluster keeps that cluster's rest first. */
  private async advance(offset: number, length: number, upTo: boolean): Promise<Uint8Array> {
    const from = this.position;
    if (offset > from && from % this.clusterSize !== 0) {
      const keepEnd = Math.min(offset, (Math.floor(from / this.clusterSize) + 1) * this.clusterSize);
      try {
        this.keep(from, (await this.inner.read(from, keepEnd - from)).slice());
      } catch (error) {
        if (!(error instanceof DiskError)) throw error;
        // Best effort: what cannot be kept is simply not kept; the read below says what is wrong, if anything.
      }
    }
    const inner = this.inner;
    const bytes = upTo && inner instanceof ForwardSource ? await inner.readSome(offset, length) : await inner.read(offset, length);
    this.position = Math.max(this.position, offset + bytes.length);
    return bytes;
  }

  private regionAt(offset: number): Region | undefined {
    const last = this.lastTail;
    if (last !== undefined && offset >= last.start && offset < last.start + last.bytes.length) return last;
    for (let i = this.regions.length - 1; i >= 0; i--) {
      const region = this.regions[i]!;
      if (offset >= region.start && offset < region.start + region.bytes.length) return region;
    }
    return undefined;
  }

  private keep(start: number, bytes: Uint8Array): void {
    this.regions.push({ start, bytes });
    this.keptBytes += bytes.length;
    while (this.regions.length > KEEP_REGIONS || this.keptBytes > KEEP_BYTES) {
      this.keptBytes -= this.regions.shift()!.bytes.length;
    }
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
