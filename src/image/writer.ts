/**
 * The writer side of the DiskImage pivot. A writer turns any DiskImage into one format's bytes, as a sequence of
 * output pieces; sinks (src/convert/sink.ts) put them in a file, a pipe or an upload. Writers never touch a file
 * themselves, so the same writer feeds all three.
 */
import { DiskError } from '../errors.js';
import type { DiskImage, FormatName } from './types.js';

/**
 * One piece of output, in order.
 * - `data`: bytes appended at the current end. Valid until the writer is asked for the next piece (a sink that
 *   keeps them copies them), like Extent data.
 * - `zeros`: that many zero bytes appended; a file sink leaves a hole instead of writing them.
 * - `patch`: bytes overwriting output already appended (a table whose entries are only known at the end). Only
 *   writers whose `streamable(subformat)` is false yield patches; a pipe cannot take them.
 */
export type OutputPiece =
  | { readonly kind: 'data'; readonly data: Uint8Array }
  | { readonly kind: 'zeros'; readonly length: number }
  | { readonly kind: 'patch'; readonly at: number; readonly data: Uint8Array };

export interface WriteOptions {
  /** One of the writer's `subformats` (the caller resolves the default). */
  readonly subformat: string;
  /** Threads for CPU-heavy encoding (deflate); writers without such work ignore it. */
  readonly workers: number;
  /** The output's name without folder or extension, for formats that name their parts (OVA entries). */
  readonly name?: string;
}

/** What can be written: every disk format with a writer, and OVA (a package of streamOptimized VMDKs). */
export type OutputFormat = FormatName | 'ova';

/** One per writable format, in the format's folder beside its reader. */
export interface DiskWriter {
  readonly format: OutputFormat;
  /** The subformats it writes; the first is the default. */
  readonly subformats: readonly string[];
  /** True when the subformat's output is append-only (no patches), so it can go to a pipe or an upload. */
  streamable(subformat: string): boolean;
  /** The output pieces. Writers that need the virtual size up front take it with `knownSize`. */
  write(image: DiskImage, options: WriteOptions): AsyncIterable<OutputPiece>;
}

/** The image's virtual size, or SIZE_UNKNOWN (a RAW pipe's length is only known at its end). */
export function knownSize(image: DiskImage, format: FormatName): number {
  if (image.virtualSize !== undefined) return image.virtualSize;
  throw new DiskError('SIZE_UNKNOWN', `a ${format} header records the disk size before the data, and the size of this input is not known until it ends: write it to a file first`, {
    file: image.source.name,
  });
}
