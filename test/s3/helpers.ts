/** Shared by the upload tests: files of random bytes, an SDK client to look at what a server holds, the CLI. */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SANDBOX_CREDENTIALS, SANDBOX_REGION, startSandboxS3 } from '../../src/sandbox/s3.js';
import type { S3Endpoint } from './rgw.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
export const MiB = 1024 * 1024;

/** s3rver through the sandbox's starter, with `buckets` made. */
export async function useS3rver(buckets: string[]): Promise<S3Endpoint & { close(): Promise<void> }> {
  const server = await startSandboxS3({ buckets });
  return { endpoint: server.endpoint, credentials: { ...SANDBOX_CREDENTIALS }, region: SANDBOX_REGION, close: server.close };
}

/** A file of `size` random bytes (written in 8 MiB pieces, so big files cost no big buffer). */
export function randomFile(dir: string, name: string, size: number): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  const piece = Buffer.allocUnsafe(Math.min(size, 8 * MiB));
  for (let written = 0; written < size; written += piece.length) {
    const length = Math.min(piece.length, size - written);
    randomFillSync(piece, 0, length);
    writeSync(fd, piece, 0, length);
  }
  closeSync(fd);
  return path;
}

export function inspector(server: S3Endpoint): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    credentials: server.credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function makeBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}

export async function objectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await reply.Body!.transformToByteArray());
}

/** The multipart uploads the server still holds for the bucket. */
export async function pendingUploads(client: S3Client, bucket: string): Promise<{ key: string; uploadId: string }[]> {
  const reply = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (reply.Uploads ?? []).map((upload) => ({ key: upload.Key!, uploadId: upload.UploadId! }));
}

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment a CLI run gets: the server's keys, and no config files or instance metadata of this machine. */
export function cliEnv(server: S3Endpoint, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    AWS_REGION: server.region,
    AWS_CONFIG_FILE: '/nonexistent/diskport-test-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/diskport-test-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/** Runs `diskport ARGS` (from dist/: `npm test` builds it first) and collects its output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, onSpawn?: (pid: number) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('spawn', () => onSpawn?.(child.pid!));
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}
