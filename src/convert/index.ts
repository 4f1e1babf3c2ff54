/**
 * Conversion: any reader's DiskImage through any writer, as a stream. `convert` gives the output as bytes (for a
 * pipe or an upload, no temp file); `convertToFile` also takes the layouts that patch tables at the end.
 */
import { availableParallelism } from 'node:os';
import { DiskError } from '../errors.js';
import { WRITERS, writerFor } from '../formats/writers.js';
import type { DiskImage } from '../image/types.js';
import type { DiskWriter, OutputFormat, OutputPiece } from '../image/writer.js';
import { bytesOf, isSpecialFile, writePiecesToFile, writePiecesToSpecialFile, writePiecesToStream, type ProgressCallback, type WrittenFile } from './sink.js';

export interface ConvertOptions {
  /** The output format. */
  to: OutputFormat;
  /** The writer's subformat (vmdk: streamOptimized | monolithicSparse; vhd: fixed | dynamic; ...); default: its first. */
  subformat?: string;
  /** Threads for deflate; default: one per core. */
  workers?: number;
  /** OVA: the virtual machine's name (default: the output file's name, or "disk"). */
  name?: string;
}

export interface ResolvedConvertOptions {
  readonly writer: DiskWriter;
  readonly subformat: string;
  readonly workers: number;
  readonly name: string | undefined;
}

/** Most worker threads a conversion may ask for (more only adds contention). */
const MAX_WORKERS = 64;

/** Validates the options, echoing a bad value, and fills in the defaults. */
export function resolveConvertOptions(options: ConvertOptions): ResolvedConvertOptions {
  const writer = writerFor(options.to);
  if (writer === undefined) {
    const writable = WRITERS.map((known) => known.format);
    throw new DiskError('USAGE', `cannot write ${JSON.stringify(options.to)}: the output formats are ${writable.join(', ')}`);
  }
  const subformat = options.subformat ?? writer.subformats[0]!;
  if (!writer.subformats.includes(subformat)) {
    throw new DiskError('USAGE', `${writer.format} has no subformat ${JSON.stringify(subformat)}: use one of ${writer.subformats.join(', ')}`);
  }
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new DiskError('USAGE', `workers must be a whole number from 1 to ${MAX_WORKERS}, not ${String(options.workers)}`);
  }
  return { writer, subformat, workers, name: options.name };
}

/** True when the target can be written append-only (to a pipe, stdout or an upload). */
export function isStreamable(options: ConvertOptions): boolean {
  const resolved = resolveConvertOptions(options);
  return resolved.writer.streamable(resolved.subformat);
}

/**
 * The converted image as bytes, in order, for any append-only target. Each chunk is valid until the next step.
 * A target that patches its tables at the end (dynamic VHD, VHDX, monolithicSparse VMDK) is refused up front.
 */
export function convert(image: DiskImage, options: ConvertOptions): AsyncIterable<Uint8Array> {
  return bytesOf(outputPieces(image, requireStreamable(options)));
}

/**
 * Writes the converted image to a file (through a temporary name, renamed when complete); returns its size and
 * how much of it is data (the rest are holes). A
 * device or FIFO named as the output is written in place, in order, as a stream: renaming a file over it would
 * replace the device node itself (so only append-only targets can go there).
 */
export async function convertToFile(image: DiskImage, path: string, options: ConvertOptions, onProgress?: ProgressCallback): Promise<WrittenFile> {
  if (isSpecialFile(path)) return writePiecesToSpecialFile(outputPieces(image, requireStreamable(options)), path, onProgress);
  return writePiecesToFile(outputPieces(image, resolveConvertOptions(options)), path, onProgress);
}

/** Writes the converted image to a stream such as stdout; returns the bytes written. */
export async function convertToStream(
  image: DiskImage,
  stream: NodeJS.WritableStream,
  options: ConvertOptions,
  onProgress?: ProgressCallback,
): Promise<number> {
  return writePiecesToStream(outputPieces(image, requireStreamable(options)), stream, onProgress);
}

function requireStreamable(options: ConvertOptions): ResolvedConvertOptions {
  const resolved = resolveConvertOptions(options);
  if (!resolved.writer.streamable(resolved.subformat)) {
    throw new DiskError(
      'NOT_STREAMABLE',
      `${resolved.writer.format} ${resolved.subformat} writes its tables after the data, so it needs a seekable file, not a pipe${streamableHint(resolved.writer)}`,
    );
  }
  return resolved;
}

/** "(or --subformat fixed, which streams)" where the format has an append-only subformat. */
function streamableHint(writer: DiskWriter): string {
  const streamable = writer.subformats.filter((subformat) => writer.streamable(subformat));
  return streamable.length === 0 ? '' : ` (or --subformat ${streamable.join(' / ')}, which streams)`;
}

function outputPieces(image: DiskImage, resolved: ResolvedConvertOptions): AsyncIterable<OutputPiece> {
  return resolved.writer.write(image, { subformat: resolved.subformat, workers: resolved.workers, name: resolved.name });
}
