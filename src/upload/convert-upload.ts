/**
 * `upload --as FORMAT`: converts while uploading. The converter's output (an async iterable of unknown total
 * length) feeds the part loop directly: no temporary file, memory bounded by the part pool plus the
 * converter's own buffers. Only the formats VM Import takes in a form that can be written append-only.
 */
import { basename, extname } from 'node:path';
import { convert } from '../convert/index.js';
import { DiskError } from '../errors.js';
import type { DiskImage, FormatName } from '../image/types.js';
import { openImage } from '../open.js';
import { parseS3Url, type S3Target } from './target.js';
import { upload, type UploadOptions, type UploadResult } from './upload.js';

/** Each target format in the subformat VM Import reads that can be streamed. */
const STREAMED_AS = { vmdk: 'streamOptimized', vhd: 'fixed', raw: 'raw' } as const satisfies Partial<Record<FormatName, string>>;
export type UploadFormat = keyof typeof STREAMED_AS;
export const UPLOAD_FORMATS = Object.keys(STREAMED_AS) as UploadFormat[];

export interface ConvertUploadOptions extends UploadOptions {
  as: UploadFormat;
  /** Reading the input: its format when detection should be skipped, extent paths outside its folder. */
  format?: FormatName;
  allowOutsideFolder?: boolean;
}

export interface ConvertUploadResult extends UploadResult {
  format: UploadFormat;
  subformat: string;
}

export async function uploadConverted(file: string, target: string | S3Target, options: ConvertUploadOptions): Promise<ConvertUploadResult> {
  const subformat = STREAMED_AS[options.as];
  if (subformat === undefined) {
    throw new DiskError('USAGE', `--as takes ${UPLOAD_FORMATS.join(', ')}, not ${JSON.stringify(options.as)}`);
  }
  if (options.resume) throw new DiskError('RESUME_UNAVAILABLE', 'a conversion being uploaded cannot be resumed: upload it again', { file });
  // The key's file name, when the URL names a folder, takes the new format's extension.
  const key = typeof target === 'string' ? parseS3Url(target, `${basename(file, extname(file))}.${options.as}`) : target;
  const image = await openImage(file, { format: options.format, allowOutsideFolder: options.allowOutsideFolder });
  try {
    const bytes = convert(image, { to: options.as, subformat });
    const result = await upload(bytes, key, { ...options, expectedSize: expectedSize(image) });
    return { ...result, format: options.as, subformat };
  } finally {
    await image.close();
  }
}

/** A bound on the output's size, to choose the part size: the disk plus room for the format's metadata. */
function expectedSize(image: DiskImage): number | undefined {
  if (image.virtualSize === undefined) return undefined;
  return Math.ceil(image.virtualSize * 1.01) + 64 * 1024 * 1024;
}
