import { fstatSync } from 'node:fs';
import { DiskError } from '../errors.js';
import { FileSource, type FileSourceOptions } from './file.js';
import { ForwardSource } from './forward.js';
import type { ByteSource } from './types.js';

export { FileSource, ForwardSource };
export type { ByteSource };

/**
 * Opens `-` (stdin) or a path. Stdin redirected from a regular file is random access; a pipe is forward-only.
 */
export async function openSource(path: string, options: FileSourceOptions = {}): Promise<ByteSource> {
  if (path === '') throw new DiskError('USAGE', 'empty file name');
  // An S3 object, read by ranged GETs; loaded on demand so local reads never load the AWS SDK.
  if (path.startsWith('s3://')) return (await import('./s3.js')).S3Source.open(path);
  if (path !== '-') return FileSource.open(path, options);
  if (fstatSync(0).isFile()) {
    return FileSource.open('/dev/stdin', options, '-');
  }
  return new ForwardSource('-', process.stdin);
}
