/**
 * `verify(s3://bucket/key, FILE?)`: proves an object holds what it should by hashing its content (XXH64, one
 * streamed GET) and comparing with the diskport-xxh64 metadata the uploader stored, and with the local file
 * when one is given (hashed at the same time).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { DiskError } from '../errors.js';
import { openSource } from '../source/open.js';
import { createS3Client, type S3ClientOptions } from './client.js';
import { HASH_METADATA_KEY, createContentHasher, hashSource } from './content-hash.js';
import { headObject } from './multipart.js';
import { s3Error } from './s3-errors.js';
import { parseS3Url, s3Url, type S3Target } from './target.js';

export interface VerifyOptions extends S3ClientOptions {
  client?: S3Client;
}

export interface VerifyResult {
  url: string;
  size: number;
  /** XXH64 of the object's content as read now. */
  xxh64: string;
  /** The hash stored at upload (diskport-xxh64), or null when the object has none. */
  metadataXxh64: string | null;
  file: string | null;
  fileSize: number | null;
  fileXxh64: string | null;
  /** True when every hash present agrees (and the sizes, with a file). */
  match: boolean;
}

export async function verify(url: string | S3Target, file?: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const target = typeof url === 'string' ? parseS3Url(url) : url;
  const client = options.client ?? (await createS3Client(options));
  const head = await headObject(client, target);
  const metadataXxh64 = head.metadata[HASH_METADATA_KEY] ?? null;
  if (metadataXxh64 === null && file === undefined) {
    throw new DiskError('USAGE', `${s3Url(target)} has no ${HASH_METADATA_KEY} metadata (not uploaded by diskport): give the local file to compare with`);
  }
  const [xxh64, local] = await Promise.all([hashObject(client, target), file === undefined ? undefined : hashFile(file)]);
  const match =
    (metadataXxh64 === null || metadataXxh64 === xxh64) && (local === undefined || (local.size === head.size && local.xxh64 === xxh64));
  return {
    url: s3Url(target),
    size: head.size,
    xxh64,
    metadataXxh64,
    file: file ?? null,
    fileSize: local?.size ?? null,
    fileXxh64: local?.xxh64 ?? null,
    match,
  };
}

/** Throws VERIFY_MISMATCH (after the caller has shown the result) when something differs. */
export function assertMatch(result: VerifyResult): void {
  if (result.match) return;
  const differences = [
    result.metadataXxh64 !== null && result.metadataXxh64 !== result.xxh64 ? `its content hashes to ${result.xxh64}, its metadata says ${result.metadataXxh64}` : undefined,
    result.fileXxh64 !== null && result.fileXxh64 !== result.xxh64 ? `${result.file} hashes to ${result.fileXxh64}, the object to ${result.xxh64}` : undefined,
    result.fileSize !== null && result.fileSize !== result.size ? `${result.file} is ${result.fileSize} bytes, the object ${result.size}` : undefined,
  ].filter((text) => text !== undefined);
  throw new DiskError('VERIFY_MISMATCH', `differs: ${differences.join('; ')}`, { file: result.url });
}

async function hashObject(client: S3Client, target: S3Target): Promise<string> {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  const hasher = await createContentHasher();
  try {
    const reply = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: target.key }));
    for await (const chunk of reply.Body as AsyncIterable<Uint8Array>) hasher.update(chunk);
  } catch (error) {
    throw s3Error(error, 'read', s3Url(target));
  }
  return hasher.digest();
}

async function hashFile(file: string): Promise<{ size: number; xxh64: string }> {
  const source = await openSource(file);
  try {
    if (source.size === undefined || !source.seekable) {
      throw new DiskError('NOT_SEEKABLE', 'verify needs a file, not a pipe', { file: source.name });
    }
    return { size: source.size, xxh64: await hashSource(source, source.size) };
  } finally {
    await source.close();
  }
}
