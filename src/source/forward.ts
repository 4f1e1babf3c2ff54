import { DiskError } from '../errors.js';
import { Limits } from '../limits.js';
import { checkReadLength } from './check.js';
import type { ByteSource } from './types.js';

/**
 * A forward-only source over an async stream of chunks (stdin, a pipe, a tar entry being streamed).
 * Reads may skip ahead; the first Limits.forwardHeadKeep bytes stay available so detection and header parsing
 * can look at the start more than once. Any other backward read throws BACKWARD_READ.
 */
export class ForwardSource implements ByteSource {
  readonly seekable = false;
  bytesRead = 0;
  private readonly iterator: AsyncIterator<Uint8Array>;
  private head: Uint8Array = new Uint8Array(0);
  /** Chunks received but not consumed; pending[0] starts at `position`. */
  private pending: Uint8Array[] = [];
  private position = 0;
  private ended = false;

  constructor(
    readonly name: string,
    chunks: AsyncIterable<Uint8Array>,
    readonly size: number | undefined = undefined,
  ) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.checkRange(offset, length);
    if (offset >= this.position) return this.take(offset, length);
    if (offset + length <= this.head.length) return this.head.slice(offset, offset + length);
    if (this.position <= this.head.length) {
      const fromHead = this.head.subarray(offset, this.position);
      const rest = await this.take(this.position, length - fromHead.length);
      return concat([fromHead, rest], length);
    }
    throw new DiskError(
      'BACKWARD_READ',
      `needs offset ${offset} but a forward-only input is already at ${this.position}; use a file instead of a pipe`,
      { file: this.name, offset },
    );
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    if (offset < this.position) {
      target.set(await this.read(offset, target.length));
      return;
    }
    // Straight from the stream's chunks into the caller's (pooled) buffer: streaming a whole disk this way
    // allocates nothing per read, where building each multi-MiB read first left the GC a buffer per read.
    this.checkRange(offset, target.length);
    await this.discard(offset - this.position);
    let done = 0;
    while (done < target.length) {
      const chunk = await this.nextChunk(offset + done);
      const used = Math.min(target.length - done, chunk.length);
      target.set(chunk.subarray(0, used), done);
      this.consume(used);
      done += used;
    }
  }

  private checkRange(offset: number, length: number): void {
    checkReadLength(this.name, offset, length);
    if (this.size !== undefined && offset + length > this.size) {
      throw new DiskError('TRUNCATED', `needs bytes ${offset}..${offset + length} but the input is ${this.size} bytes`, {
        file: this.name,
        offset,
      });
    }
  }

  /** Reads `length` bytes at `offset` >= position, discarding what lies before. */
  private async take(offset: number, length: number): Promise<Uint8Array> {
    await this.discard(offset - this.position);
    const parts: Uint8Array[] = [];
    let wanted = length;
    while (wanted > 0) {
      const chunk = await this.nextChunk(offset + (length - wanted));
      const used = chunk.subarray(0, Math.min(wanted, chunk.length));
      parts.push(used);
      this.consume(used.length);
      wanted -= used.length;
    }
    return concat(parts, length);
  }

  private async discard(count: number): Promise<void> {
    while (count > 0) {
      const chunk = await this.nextChunk(this.position);
      const used = Math.min(count, chunk.length);
      this.consume(used);
      count -= used;
    }
  }

  private consume(count: number): void {
    const first = this.pending[0]!;
    if (count === first.length) this.pending.shift();
    else this.pending[0] = first.subarray(count);
    this.position += count;
  }

  private async nextChunk(neededAt: number): Promise<Uint8Array> {
    while (this.pending.length === 0) {
      const next = this.ended ? { done: true as const, value: undefined } : await this.iterator.next();
      if (next.done) {
        this.ended = true;
        throw new DiskError('TRUNCATED', `input ended at ${this.position} (needed data at ${neededAt})`, {
          file: this.name,
          offset: neededAt,
        });
      }
      if (next.value.length === 0) continue;
      this.keepHead(next.value);
      this.bytesRead += next.value.length;
      this.pending.push(next.value);
    }
    return this.pending[0]!;
  }

  private keepHead(chunk: Uint8Array): void {
    const room = Limits.forwardHeadKeep - this.head.length;
    if (room <= 0 || this.bytesRead > this.head.length) return;
    this.head = concat([this.head, chunk.subarray(0, room)], this.head.length + Math.min(room, chunk.length));
  }

  /** Reads up to `max` bytes at `offset`; fewer only where the input ends (empty past its end). */
  async readSome(offset: number, max: number): Promise<Uint8Array> {
    if (offset + max <= this.head.length) return this.head.slice(offset, offset + max);
    const parts: Uint8Array[] = [];
    let got = 0;
    try {
      if (offset < this.position) {
        parts.push(await this.read(offset, this.position - offset));
        got = parts[0]!.length;
      }
      await this.discard(offset + got - this.position);
      while (got < max) {
        const chunk = await this.nextChunk(this.position);
        const used = chunk.subarray(0, Math.min(max - got, chunk.length));
        parts.push(used);
        this.consume(used.length);
        got += used.length;
      }
    } catch (error) {
      if (!(error instanceof DiskError && error.code === 'TRUNCATED' && this.ended)) throw error;
    }
    return concat(parts, got);
  }

  /**
   * readSome into the caller's buffer: up to `target.length` bytes at `offset`, the count read (0 past the end).
   * Streaming a pipe of unknown length this way copies each byte once into one reused buffer.
   */
  async readSomeInto(offset: number, target: Uint8Array): Promise<number> {
    if (offset < this.position) {
      const some = await this.readSome(offset, target.length);
      target.set(some);
      return some.length;
    }
    let got = 0;
    try {
      await this.discard(offset - this.position);
      while (got < target.length) {
        const chunk = await this.nextChunk(this.position);
        const used = Math.min(target.length - got, chunk.length);
        target.set(chunk.subarray(0, used), got);
        this.consume(used);
        got += used;
      }
    } catch (error) {
      if (!(error instanceof DiskError && error.code === 'TRUNCATED' && this.ended)) throw error;
    }
    return got;
  }

  /** Reads and discards the rest of the stream; returns the total length. */
  async drain(): Promise<number> {
    try {
      for (;;) {
        const chunk = await this.nextChunk(this.position);
        this.consume(chunk.length);
      }
    } catch (error) {
      if (error instanceof DiskError && error.code === 'TRUNCATED' && this.ended) return this.position;
      throw error;
    }
  }

  async close(): Promise<void> {
    this.pending = [];
    if (!this.ended) await this.iterator.return?.();
    this.ended = true;
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === length) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
