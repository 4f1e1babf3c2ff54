/**
 * The part loop: a producer cuts the content into parts in buffers from a fixed pool, and up to `concurrency`
 * parts are in flight at once. Memory is the pool, (concurrency + 1) x partSize, whatever the object's size:
 * the extra buffer lets the next part be read while every connection is busy.
 */
import { DiskError } from '../errors.js';
import type { ByteSource } from '../source/types.js';
import type { ContentHasher } from './content-hash.js';
import { S3Limits } from './part-size.js';

export interface Part {
  number: number;
  /** A view into a pool buffer, valid until release(). */
  bytes: Buffer;
  release(): void;
}

export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: ((buffer: Buffer) => void)[] = [];
  private allocated = 0;

  constructor(
    private readonly count: number,
    private readonly size: number,
  ) {}

  async take(): Promise<Buffer> {
    const buffer = this.free.pop();
    if (buffer !== undefined) return buffer;
    if (this.allocated < this.count) {
      this.allocated++;
      return Buffer.allocUnsafe(this.size);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(buffer: Buffer): void {
    const waiter = this.waiting.shift();
    if (waiter === undefined) this.free.push(buffer);
    else waiter(buffer);
  }

  part(number: number, buffer: Buffer, length: number): Part {
    return { number, bytes: buffer.subarray(0, length), release: () => this.give(buffer) };
  }
}

/** The parts of a random-access source of known size, in order, leaving out the numbers in `skip`. */
export async function* sourceParts(source: ByteSource, size: number, partSize: number, skip: ReadonlySet<number>, pool: BufferPool): AsyncGenerator<Part> {
  const count = Math.max(1, Math.ceil(size / partSize));
  for (let number = 1; number <= count; number++) {
    if (skip.has(number)) continue;
    const offset = (number - 1) * partSize;
    const length = Math.min(partSize, size - offset);
    const buffer = await pool.take();
    try {
      await source.readInto(offset, buffer.subarray(0, length));
    } catch (error) {
      pool.give(buffer);
      throw sourceReadError(error, source.name, size);
    }
    yield pool.part(number, buffer, length);
  }
}

/** A file that got shorter while being read is a changed file, not a damaged image. */
function sourceReadError(error: unknown, name: string, size: number): unknown {
  if (!(error instanceof DiskError) || error.code !== 'TRUNCATED') return error;
  return new DiskError('SOURCE_CHANGED', `the file shrank below its ${size} bytes while it was uploaded: upload it again once it is stable`, {
    file: name,
    offset: error.offset,
  });
}

/**
 * Parts cut from a stream of unknown length (a conversion's output, a pipe); `hasher` sees every byte in order.
 * An empty stream gives one empty part (S3 needs at least one).
 */
export async function* streamParts(chunks: AsyncIterable<Uint8Array>, partSize: number, pool: BufferPool, hasher: ContentHasher, name: string): AsyncGenerator<Part> {
  let number = 1;
  let buffer = await pool.take();
  let filled = 0;
  const full = (): void => {
    if (number > S3Limits.maxParts) {
      throw new DiskError('UPLOAD_TOO_LARGE', `the stream is longer than 10,000 parts of ${partSize} bytes: use a larger --part-size`, { file: name });
    }
  };
  for await (const chunk of chunks) {
    hasher.update(chunk);
    let used = 0;
    while (used < chunk.length) {
      const step = Math.min(chunk.length - used, partSize - filled);
      buffer.set(chunk.subarray(used, used + step), filled);
      filled += step;
      used += step;
      if (filled === partSize) {
        full();
        yield pool.part(number++, buffer, filled);
        buffer = await pool.take();
        filled = 0;
      }
    }
  }
  if (filled > 0 || number === 1) {
    full();
    yield pool.part(number, buffer, filled);
  } else {
    pool.give(buffer);
  }
}

/**
 * Sends the parts with up to `concurrency` in flight. The first failure stops the rest (their requests are
 * aborted) and is thrown once every request has settled; so is an abort of `signal`.
 */
export async function sendParts(
  parts: AsyncIterable<Part>,
  concurrency: number,
  send: (part: Part, signal: AbortSignal) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  if (signal?.aborted) stop();
  signal?.addEventListener('abort', stop);
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown): void => {
    failure ??= { error };
    controller.abort();
  };
  const iterator = parts[Symbol.asyncIterator]();
  try {
    while (failure === undefined && !controller.signal.aborted) {
      if (inFlight.size >= concurrency) {
        await Promise.race(inFlight);
        continue;
      }
      const next = await iterator.next();
      if (next.done) break;
      const part = next.value;
      if (failure !== undefined || controller.signal.aborted) {
        part.release();
        break;
      }
      const task: Promise<void> = send(part, controller.signal)
        .catch(fail)
        .finally(() => {
          part.release();
          inFlight.delete(task);
        });
      inFlight.add(task);
    }
  } catch (error) {
    fail(error);
  } finally {
    await Promise.allSettled(inFlight);
    await iterator.return?.(undefined).catch(() => undefined);
    signal?.removeEventListener('abort', stop);
  }
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
  if (failure !== undefined) throw failure.error;
}
