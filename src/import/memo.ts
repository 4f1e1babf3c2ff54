/**
 * What diskport remembers of the uploads an import made: this file (path, size, modification time), converted or
 * not, went to this object, with this content hash, ETag and upload times. Running the same import again finds
 * the object still there (same ETag) and skips the upload, so the ImportImage request is the first run's to the
 * byte (ClientData times included) and EC2's ClientToken idempotence hands back the first task. A memo is a
 * shortcut, never a source of truth: a missing, unreadable or stale one means a fresh upload.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { headObject } from '../upload/multipart.js';
import type { S3Target } from '../upload/target.js';

export interface UploadMemo {
  version: 1;
  file: { path: string; size: number; mtimeMs: number };
  /** The format the file was converted to on the way, or null. */
  convertedTo: string | null;
  bucket: string;
  key: string;
  etag: string;
  xxh64: string;
  size: number;
  uploadStart: string;
  uploadEnd: string;
}

/** $XDG_CACHE_HOME/diskport/uploads, or ~/.cache/diskport/uploads. */
export function defaultMemoFolder(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'diskport', 'uploads');
}

export interface MemoKey {
  file: string;
  target: S3Target;
  convertedTo: string | null;
}

/** The memo for this upload if the file and the object are both unchanged since; undefined otherwise. */
export async function recallUpload(folder: string, key: MemoKey, client: S3Client): Promise<UploadMemo | undefined> {
  const memo = await readMemo(memoPath(folder, key));
  if (memo === undefined || memo.bucket !== key.target.bucket || memo.key !== key.target.key || memo.convertedTo !== key.convertedTo) return undefined;
  const file = await stat(key.file).catch(() => undefined);
  if (file === undefined || file.size !== memo.file.size || file.mtimeMs !== memo.file.mtimeMs || resolve(key.file) !== memo.file.path) return undefined;
  const head = await headObject(client, key.target).catch(() => undefined);
  return head !== undefined && head.etag === memo.etag && head.size === memo.size ? memo : undefined;
}

/** Records an upload; a folder that cannot be written only costs the next run a fresh upload. */
export async function rememberUpload(folder: string, key: MemoKey, upload: Omit<UploadMemo, 'version' | 'file' | 'convertedTo' | 'bucket' | 'key'>): Promise<void> {
  try {
    const file = await stat(key.file);
    const memo: UploadMemo = {
      version: 1,
      file: { path: resolve(key.file), size: file.size, mtimeMs: file.mtimeMs },
      convertedTo: key.convertedTo,
      bucket: key.target.bucket,
      key: key.target.key,
      ...upload,
    };
    await mkdir(folder, { recursive: true });
    const path = memoPath(folder, key);
    await writeFile(`${path}.tmp`, `${JSON.stringify(memo, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
  } catch {
    // Not worth failing an import for: the memo only saves a re-upload.
  }
}

function memoPath(folder: string, key: MemoKey): string {
  const name = createHash('sha256').update(JSON.stringify([resolve(key.file), key.target.bucket, key.target.key, key.convertedTo])).digest('hex');
  return join(folder, `${name.slice(0, 32)}.json`);
}

async function readMemo(path: string): Promise<UploadMemo | undefined> {
  try {
    const memo = JSON.parse(await readFile(path, 'utf8')) as UploadMemo;
    return memo.version === 1 && typeof memo.etag === 'string' && typeof memo.xxh64 === 'string' ? memo : undefined;
  } catch {
    return undefined;
  }
}
