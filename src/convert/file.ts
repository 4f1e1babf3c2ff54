/**
 * `convert` as a whole job, for the CLI and for scripts: open the input, write the output (a file, through a
 * temporary name; or a stream), report progress in guest bytes, and with `verify` read the output back through our
 * own reader and compare its content fingerprint with the source's (taken while converting, not in a second pass).
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DiskError } from '../errors.js';
import type { DiskImage, Extent } from '../image/types.js';
import { openImage, type OpenImageOptions } from '../open.js';
import { ContentHasher, contentHash } from './content-hash.js';
import { convertToFile, convertToStream, resolveConvertOptions, type ConvertOptions } from './index.js';

export interface ConvertFileOptions extends ConvertOptions {
  /** Read the output back and compare its content fingerprint with the source's (file outputs only). */
  verify?: boolean;
  /** Replace an existing output file (default: refuse, OUTPUT_EXISTS). */
  overwrite?: boolean;
  /** Input reader options (format override, VMDK extents outside the folder). */
  open?: OpenImageOptions;
  /** Guest bytes done so far, of `total` (the virtual size; undefined for a RAW pipe of unknown length). */
  onProgress?: (progress: { bytes: number; total: number | undefined }) => void;
}

export interface ConvertSummary {
  input: string;
  /** The output path, or "-" for a stream. */
  output: string;
  format: string;
  subformat: string;
  virtualSize: number | null;
  outputSize: number;
  seconds: number;
  verify?: VerifyResult;
}

export interface VerifyResult {
  /** Content fingerprints (see content-hash.ts), 16 hex digits each. */
  source: string;
  output: string;
  outputVirtualSize: number | null;
  match: boolean;
}

/** Converts `input` (a path, or "-" for stdin) to `output` (a path, or a writable stream such as stdout). */
export async function convertFile(
  input: string,
  output: string | NodeJS.WritableStream,
  options: ConvertFileOptions,
): Promise<ConvertSummary> {
  const resolved = resolveConvertOptions(options);
  const outputName = typeof output === 'string' ? output : '-';
  if (typeof output === 'string') checkOutputPath(input, output, options.overwrite ?? false);
  if (options.verify && (typeof output !== 'string' || isPipe(output))) {
    throw new DiskError('USAGE', '--verify reads the output back, so it needs an output file, not a stream or a FIFO');
  }
  const started = performance.now();
  const image = await openImage(input, options.open);
  const hasher = options.verify ? await ContentHasher.create() : undefined;
  let outputSize: number;
  try {
    const observed = observe(image, (extent) => {
      if (hasher !== undefined && extent.data !== undefined) hasher.add(extent.offset, extent.data);
      options.onProgress?.({ bytes: extent.offset + extent.length, total: image.virtualSize });
    });
    outputSize = typeof output === 'string'
      ? (await convertToFile(observed, output, options)).size
      : await convertToStream(observed, output, options);
  } finally {
    await image.close();
  }
  const summary: ConvertSummary = {
    input,
    output: outputName,
    format: resolved.writer.format,
    subformat: resolved.subformat,
    virtualSize: image.virtualSize ?? null,
    outputSize,
    seconds: (performance.now() - started) / 1000,
  };
  if (hasher !== undefined && typeof output === 'string') summary.verify = await verifyOutput(hasher.digest(), output, image.virtualSize);
  return summary;
}

/** Reads the written file back through the reader its format names, and compares fingerprints and sizes. */
async function verifyOutput(sourceHash: string, output: string, sourceSize: number | undefined): Promise<VerifyResult> {
  const written = await openImage(output);
  try {
    const outputHash = await contentHash(written);
    const outputVirtualSize = written.virtualSize ?? null;
    // A larger output is fine (a VHD rounds up to a whole sector); its extra bytes are zeros, which the
    // fingerprint ignores only because they are zeros, so equal fingerprints still prove the content.
    const sizeOk = sourceSize === undefined || (outputVirtualSize !== null && outputVirtualSize >= sourceSize);
    return { source: sourceHash, output: outputHash, outputVirtualSize, match: outputHash === sourceHash && sizeOk };
  } finally {
    await written.close();
  }
}

/** Refuses an output that exists (unless overwrite) or that is the input itself. */
function checkOutputPath(input: string, output: string, overwrite: boolean): void {
  if (!existsSync(output)) return;
  if (input !== '-' && existsSync(input) && realpathSync(input) === realpathSync(output)) {
    throw new DiskError('USAGE', 'the output is the input file: write to another path', { file: resolve(output) });
  }
  if (!overwrite) throw new DiskError('OUTPUT_EXISTS', 'the output file exists: pass --force to replace it', { file: output });
}

function isPipe(path: string): boolean {
  try {
    const stats = statSync(path);
    return stats.isFIFO() || stats.isSocket();
  } catch {
    return false;
  }
}

/** The image with `onExtent` called for each extent as the writer reads it. */
function observe(image: DiskImage, onExtent: (extent: Extent) => void): DiskImage {
  return {
    ...image,
    read: image.read.bind(image),
    close: image.close.bind(image),
    async *extents() {
      for await (const extent of image.extents()) {
        onExtent(extent);
        yield extent;
      }
    },
  };
}
