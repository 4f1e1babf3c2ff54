/** Reading an import's disk from the sandbox S3 the way VM Import does: GetObject, streamed to a local file. */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { SANDBOX_CREDENTIALS, SANDBOX_REGION } from './s3.js';
import type { S3Location } from './import-request.js';

/** The S3 client the EC2 side reads objects with. */
export async function sandboxS3Client(endpoint: string): Promise<S3Client> {
  // The SDK warns once per process that its 2027 releases will need Node 22; the warning is noise on a CLI's
  // stderr, and the SDK's own switch turns it off.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client } = await import('@aws-sdk/client-s3');
  return new S3Client({
    endpoint,
    region: SANDBOX_REGION,
    credentials: SANDBOX_CREDENTIALS,
    forcePathStyle: true,
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export type Download = { ok: true; size: number } | { ok: false; reason: string };

/** Streams the object to `path` (bounded memory whatever its size). S3's refusal comes back as `404 Not Found`. */
export async function downloadObject(client: S3Client, location: S3Location, path: string, signal: AbortSignal): Promise<Download> {
  const { GetObjectCommand, S3ServiceException } = await import('@aws-sdk/client-s3');
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }), { abortSignal: signal });
    await pipeline(object.Body as Readable, createWriteStream(path), { signal });
    return { ok: true, size: object.ContentLength ?? 0 };
  } catch (error) {
    if (!(error instanceof S3ServiceException)) throw error;
    const status = error.$metadata.httpStatusCode ?? 403;
    return { ok: false, reason: `${status} ${STATUS_TEXT[status] ?? error.name}` };
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found' };
