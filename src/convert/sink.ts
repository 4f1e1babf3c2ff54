/**
 * Where a writer's output pieces go: a file (zero runs become holes, patches become positional writes), or an
 * append-only byte stream (a pipe, an upload), which materialises zero runs and cannot take patches.
 */
import { closeSync, createWriteStream, ftruncateSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { DiskError } from '../errors.js';
import type { OutputPiece } from '../image/writer.js';

const ZEROS = new Uint8Array(1024 * 1024);

/** Output bytes appended, for progress. */
export type ProgressCallback = (outputBytes: number) => void;

/** What a file sink wrote: the file's size, and the bytes of it that are data (the rest are holes). */
export interface WrittenFile {
  size: number;
  dataBytes: number;
}

/**
 * The pieces as plain byte chunks, in order: zero runs as chunks of a shared zero buffer (valid until the next
 * step, like every chunk). A patch is a writer bug here (the caller checked `streamable`), reported as INTERNAL.
 */
export async function* bytesOf(pieces: AsyncIterable<OutputPiece>): AsyncGenerator<Uint8Array> {
  for await (const piece of pieces) {
    if (piece.kind === 'data') yield piece.data;
    else if (piece.kind === 'zeros') {
      for (let left = piece.length; left > 0; left -= ZEROS.length) yield ZEROS.subarray(0, Math.min(left, ZEROS.length));
    } else throw new DiskError('INTERNAL', `an append-only output received a patch at ${piece.at}`);
  }
}

/**
 * Writes the pieces to `path` through a temporary name beside it, renamed over `path` only once everything is
 * written: a failed or interrupted conversion never leaves a file that looks finished.
 *
 * Writes are synchronous on purpose: the CPU work (deflate) runs on worker threads meanwhile, and an async write's
 * thread-pool hop costs more than the write itself for the page cache (see cat.ts).
 */
export async function writePiecesToFile(pieces: AsyncIterable<OutputPiece>, path: string, onProgress?: ProgressCallback): Promise<WrittenFile> {
  const partial = `${path}.diskport-partial`;
  const fd = openOutput(partial);
  const room = roomKeeper(fd);
  let end = 0;
  let dataBytes = 0;
  let finished = false;
  try {
    for await (const piece of pieces) {
      if (piece.kind === 'data') {
        room(end + piece.data.length);
        writeFully(fd, piece.data, end, partial);
        end += piece.data.length;
        dataBytes += piece.data.length;
      } else if (piece.kind === 'zeros') {
        end += piece.length; // a hole
        room(end);
      } else {
        if (piece.at + piece.data.length > end) throw new DiskError('INTERNAL', `a patch at ${piece.at} reaches past the output's end (${end})`);
        writeFully(fd, piece.data, piece.at, partial);
        dataBytes += piece.data.length;
      }
      onProgress?.(end);
    }
    ftruncateSync(fd, end);
    closeSync(fd);
    renameSync(partial, path);
    finished = true;
    return { size: end, dataBytes };
  } catch (error) {
    throw outputError(error, path);
  } finally {
    if (!finished) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(partial);
      } catch {
        // never created, or already gone
      }
    }
  }
}

/** Writes the pieces to a stream (stdout), waiting for each chunk to be handed off before the next is made. */
export async function writePiecesToStream(
  pieces: AsyncIterable<OutputPiece>,
  stream: NodeJS.WritableStream,
  onProgress?: ProgressCallback,
): Promise<number> {
  let written = 0;
  for await (const chunk of bytesOf(pieces)) {
    await new Promise<void>((resolve, reject) => {
      stream.write(chunk, (error) => (error ? reject(error) : resolve()));
    });
    written += chunk.length;
    onProgress?.(written);
  }
  return written;
}

/**
 * Keeps the file's size ahead of the writes, growing it in doublings (a sparse ftruncate costs nothing): on ext4 a
 * write past the end of the file, above all after a hole, costs several times one inside it (measured on 2 GiB of
 * half holes: 5.8 s against 1.3 s). The final ftruncate cuts the file to what was written.
 */
function roomKeeper(fd: number): (needed: number) => void {
  let size = 0;
  return (needed) => {
    if (needed <= size) return;
    size = Math.max(needed, size * 2, MIN_GROWTH);
    ftruncateSync(fd, size);
  };
}

const MIN_GROWTH = 64 * 1024 * 1024;

/** True when `path` exists and is neither a regular file nor a folder: a device, a FIFO, a socket. */
export function isSpecialFile(path: string): boolean {
  try {
    const stats = statSync(path);
    return !stats.isFile() && !stats.isDirectory();
  } catch {
    return false;
  }
}

/**
 * Writes append-only pieces into a device or FIFO in place, in order (no temporary name, no holes: a device keeps
 * whatever it held where nothing is written): every byte is data.
 */
export async function writePiecesToSpecialFile(pieces: AsyncIterable<OutputPiece>, path: string, onProgress?: ProgressCallback): Promise<WrittenFile> {
  const stream = createWriteStream(path, { flags: 'w' });
  // Every write's callback gets its error, and `finished` the stream's; this listener only keeps the stream's own
  // 'error' event (ENOSPC, EPIPE) from counting as unhandled and ending the process.
  stream.on('error', () => undefined);
  try {
    const written = await writePiecesToStream(pieces, stream, onProgress);
    stream.end();
    await finished(stream);
    return { size: written, dataBytes: written };
  } catch (error) {
    stream.destroy();
    throw outputError(error, path);
  }
}

function openOutput(path: string): number {
  try {
    return openSync(path, 'w');
  } catch (error) {
    throw outputError(error, path);
  }
}

function writeFully(fd: number, data: Uint8Array, position: number, path: string): void {
  for (let done = 0; done < data.length; ) {
    const wrote = writeSync(fd, data, done, data.length - done, position + done);
    if (wrote <= 0) throw new DiskError('IO_ERROR', `write returned ${wrote} at ${position + done}`, { file: path });
    done += wrote;
  }
}

function outputError(error: unknown, path: string): DiskError {
  if (error instanceof DiskError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new DiskError('IO_ERROR', `cannot write the output: ${message}`, { file: path, cause: error });
}
