/**
 * Resuming: the state file names the upload and the parts S3 acknowledged. A part is kept only when the file
 * is provably the one the upload began with (same size and XXH64) and ListParts shows that part with the ETag
 * and size recorded when it was sent; every other part is sent again (S3 replaces a part sent twice).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { DiskError } from '../errors.js';
import { listParts, type Multipart } from './multipart.js';
import { isNotImplemented, s3Error } from './s3-errors.js';
import type { CompletedPart, UploadState } from './state.js';
import { s3Url, type S3Target } from './target.js';

export interface ResumeSubject {
  target: S3Target;
  size: number;
  xxh64: string;
  /** The source's name, for messages. */
  name: string;
}

export async function prepareResume(client: S3Client, state: UploadState, subject: ResumeSubject): Promise<{ multipart: Multipart; done: CompletedPart[] }> {
  const url = s3Url(subject.target);
  if (state.bucket !== subject.target.bucket || state.key !== subject.target.key) {
    throw new DiskError('RESUME_UNAVAILABLE', `the state file is for s3://${state.bucket}/${state.key}, not this target: resume to that URL, or upload without --resume`, {
      file: url,
    });
  }
  if (state.source.size !== subject.size || state.source.xxh64 !== subject.xxh64) {
    throw new DiskError('SOURCE_CHANGED', 'the file changed since the upload began: upload it again without --resume', { file: subject.name });
  }
  const multipart: Multipart = { client, target: subject.target, uploadId: state.uploadId };
  const held = await serverParts(multipart);
  const done = state.parts.filter((part) => {
    const there = held.get(part.partNumber);
    return there !== undefined && there.etag === part.etag && there.size === part.size && part.size === expectedSize(part.partNumber, state);
  });
  return { multipart, done };
}

async function serverParts(multipart: Multipart): Promise<Map<number, { etag: string; size: number }>> {
  const url = s3Url(multipart.target);
  try {
    return await listParts(multipart);
  } catch (error) {
    if (isNotImplemented(error)) {
      throw new DiskError('RESUME_UNAVAILABLE', 'the server cannot list the parts of an upload (no ListParts): upload again without --resume', { file: url });
    }
    if ((error as { name?: string }).name === 'NoSuchUpload') {
      throw new DiskError('RESUME_UNAVAILABLE', `multipart upload ${multipart.uploadId} no longer exists (completed, aborted or expired): upload again without --resume`, {
        file: url,
      });
    }
    throw s3Error(error, 'list the uploaded parts of', url);
  }
}

function expectedSize(partNumber: number, state: UploadState): number {
  return Math.min(state.partSize, state.source.size - (partNumber - 1) * state.partSize);
}
