/**
 * The multipart calls, one function each, with SDK failures turned into DiskErrors that name the object.
 *
 * Why not @aws-sdk/lib-storage's Upload: it cannot continue an existing UploadId (resume), does not tell which
 * parts finished with which ETags as they finish (the state file needs that), cannot take per-part checksums
 * computed outside the SDK, and keeps more than queueSize x partSize in memory (269 MiB measured for 16 MiB x 8).
 * The uploader's own part loop (part-loop.ts) does everything Upload would, so it is the one code path.
 */
import { crc32 } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CompletedPart } from './state.js';
import { noSuchBucket, s3Error } from './s3-errors.js';
import { s3Url, type S3Target } from './target.js';

export interface Multipart {
  client: S3Client;
  target: S3Target;
  uploadId: string;
}

async function commands(): Promise<typeof import('@aws-sdk/client-s3')> {
  return import('@aws-sdk/client-s3');
}

/**
 * Fails before any long work (hashing a large file) when the region or the credentials are missing or the
 * bucket does not exist. A 403 on HeadBucket is let through: a policy may allow PutObject without ListBucket,
 * and the upload's own first request says what is denied.
 */
export async function checkTarget(client: S3Client, target: S3Target): Promise<void> {
  const { HeadBucketCommand } = await commands();
  const url = s3Url(target);
  try {
    await client.config.region();
    await client.config.credentials();
    await client.send(new HeadBucketCommand({ Bucket: target.bucket }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) throw noSuchBucket('start the upload to', url, error); // HEAD replies have no error code
    const reason = s3Error(error, 'start the upload to', url);
    if (reason.code !== 'S3_ACCESS_DENIED' && reason.code !== 'S3_REQUEST_FAILED') throw reason;
  }
}

export async function createMultipart(client: S3Client, target: S3Target, metadata: Record<string, string>): Promise<Multipart> {
  const { CreateMultipartUploadCommand } = await commands();
  try {
    const reply = await client.send(
      new CreateMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, Metadata: metadata, ChecksumAlgorithm: 'CRC32' }),
    );
    if (reply.UploadId === undefined) throw new Error('no UploadId in the reply');
    return { client, target, uploadId: reply.UploadId };
  } catch (error) {
    throw s3Error(error, 'start the multipart upload', s3Url(target));
  }
}

/** The base64 CRC32 S3 takes in x-amz-checksum-crc32 (zlib's CRC-32, as S3's CRC32). */
export function partChecksum(bytes: Uint8Array): string {
  const value = Buffer.allocUnsafe(4);
  value.writeUInt32BE(crc32(bytes));
  return value.toString('base64');
}

/** Sends one part with its CRC32, which AWS S3 checks against the bytes it receives. */
export async function uploadPart(upload: Multipart, partNumber: number, bytes: Uint8Array, signal: AbortSignal): Promise<CompletedPart> {
  const { UploadPartCommand } = await commands();
  const checksum = partChecksum(bytes);
  try {
    const reply = await upload.client.send(
      new UploadPartCommand({
        Bucket: upload.target.bucket,
        Key: upload.target.key,
        UploadId: upload.uploadId,
        PartNumber: partNumber,
        Body: bytes,
        ContentLength: bytes.length,
        ChecksumCRC32: checksum,
      }),
      { abortSignal: signal },
    );
    return { partNumber, size: bytes.length, etag: reply.ETag ?? '', crc32: checksum };
  } catch (error) {
    throw s3Error(error, `upload part ${partNumber}`, s3Url(upload.target));
  }
}

/** Every part S3 holds for the upload, by number (ListParts, all pages). */
export async function listParts(upload: Multipart): Promise<Map<number, { etag: string; size: number }>> {
  const { ListPartsCommand } = await commands();
  const parts = new Map<number, { etag: string; size: number }>();
  let marker: string | undefined;
  for (;;) {
    const reply = await upload.client.send(
      new ListPartsCommand({ Bucket: upload.target.bucket, Key: upload.target.key, UploadId: upload.uploadId, PartNumberMarker: marker }),
    );
    for (const part of reply.Parts ?? []) {
      if (part.PartNumber !== undefined) parts.set(part.PartNumber, { etag: part.ETag ?? '', size: part.Size ?? -1 });
    }
    if (!reply.IsTruncated || reply.NextPartNumberMarker === undefined) return parts;
    marker = reply.NextPartNumberMarker;
  }
}

export async function completeMultipart(upload: Multipart, parts: CompletedPart[]): Promise<void> {
  const { CompleteMultipartUploadCommand } = await commands();
  const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  try {
    await upload.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: upload.target.bucket,
        Key: upload.target.key,
        UploadId: upload.uploadId,
        MultipartUpload: { Parts: ordered.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag, ChecksumCRC32: part.crc32 })) },
      }),
    );
  } catch (error) {
    throw s3Error(error, 'complete the multipart upload', s3Url(upload.target));
  }
}

/** Throws what the server answered (the caller decides whether a failed abort matters). */
export async function abortMultipart(upload: Multipart): Promise<void> {
  const { AbortMultipartUploadCommand } = await commands();
  await upload.client.send(
    new AbortMultipartUploadCommand({ Bucket: upload.target.bucket, Key: upload.target.key, UploadId: upload.uploadId }),
  );
}

export interface ObjectHead {
  size: number;
  etag: string;
  metadata: Record<string, string>;
}

export async function headObject(client: S3Client, target: S3Target): Promise<ObjectHead> {
  const { HeadObjectCommand } = await commands();
  try {
    const reply = await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: target.key }));
    return { size: reply.ContentLength ?? 0, etag: reply.ETag ?? '', metadata: reply.Metadata ?? {} };
  } catch (error) {
    throw s3Error(error, 'look up', s3Url(target));
  }
}
