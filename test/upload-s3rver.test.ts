/**
 * Uploads to s3rver (the sandbox's S3, in-process): byte-equal round trips around the part boundaries, the CLI's
 * output, verify, and the failures that happen before any part is sent. Faults, aborts and resume run against
 * this server and Ceph RGW alike in upload-multipart.test.ts.
 */
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upload } from '../src/upload/upload.js';
import { verify } from '../src/upload/verify.js';
import { MiB, cliEnv, inspector, objectBytes, randomFile, runCli, useS3rver } from './s3/helpers.js';
import type { S3Endpoint } from './s3/rgw.js';

const BUCKET = 'uploads';
let server: S3Endpoint & { close(): Promise<void> };
let s3: S3Client;
const dir = mkdtempSync(join(tmpdir(), 'diskport-upload-s3rver-'));

beforeAll(async () => {
  server = await useS3rver([BUCKET]);
  s3 = inspector(server);
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const options = () => ({ endpointUrl: server.endpoint, credentials: server.credentials, region: server.region, partSize: 5 * MiB });

describe('round trips to s3rver', () => {
  it.each([
    ['empty', 0],
    ['one byte', 1],
    ['5 MiB - 1', 5 * MiB - 1],
    ['5 MiB', 5 * MiB],
    ['5 MiB + 1', 5 * MiB + 1],
    ['three parts and a tail', 15 * MiB + 7],
  ])('%s: the object equals the file, with its XXH64 as metadata', async (name, size) => {
    const file = randomFile(dir, `${size}.bin`, size);
    const result = await upload(file, `s3://${BUCKET}/round/${size}`, options());
    expect(result).toMatchObject({ size, parts: Math.max(1, Math.ceil(size / (5 * MiB))), resumed: false, checksumAlgorithm: 'CRC32' });
    expect((await objectBytes(s3, BUCKET, `round/${size}`)).equals(readFileSync(file))).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `round/${size}` }));
    expect(head.Metadata?.['diskport-xxh64']).toBe(result.xxh64);
    expect(result.xxh64).toMatch(/^[0-9a-f]{16}$/);
  });

  it('returns ImportImage ClientData: start, end and size in GiB', async () => {
    const file = randomFile(dir, 'client-data.bin', 6 * MiB);
    const before = Date.now();
    const result = await upload(file, `s3://${BUCKET}/client-data`, options());
    expect(Date.parse(result.uploadStart)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(result.uploadEnd)).toBeGreaterThanOrEqual(Date.parse(result.uploadStart));
    expect(result.uploadSize).toBeCloseTo((6 * MiB) / 2 ** 30, 6);
  });

  it('uploads a stream of unknown length (a pipe), returning its hash', async () => {
    const file = randomFile(dir, 'stream.bin', 11 * MiB + 3);
    const bytes = readFileSync(file);
    async function* pieces(): AsyncIterable<Uint8Array> {
      for (let at = 0; at < bytes.length; at += 3 * MiB + 1) yield bytes.subarray(at, at + 3 * MiB + 1);
    }
    const result = await upload(pieces(), `s3://${BUCKET}/stream`, options());
    expect(result).toMatchObject({ size: bytes.length, parts: 3 });
    expect((await objectBytes(s3, BUCKET, 'stream')).equals(bytes)).toBe(true);
    const verified = await verify(`s3://${BUCKET}/stream`, file, options());
    expect(verified).toMatchObject({ match: true, metadataXxh64: null, xxh64: result.xxh64, fileXxh64: result.xxh64 });
  });
});

describe('the upload and verify commands', () => {
  it('prints JSON-lines progress, then the result; verify then proves the object equals the file', async () => {
    const file = randomFile(dir, 'cli.bin', 12 * MiB);
    const env = cliEnv(server);
    const run = await runCli(['upload', file, `s3://${BUCKET}/cli/`, '--endpoint-url', server.endpoint, '--part-size', '5MiB', '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
    const result = lines.at(-1);
    expect(result).toMatchObject({ event: 'result', key: 'cli/cli.bin', size: 12 * MiB, parts: 3 });
    const progress = lines.filter((line) => line.event === 'progress');
    expect(progress.map((line) => line.phase)).toContain('hash');
    expect(progress.at(-1)).toMatchObject({ phase: 'upload', bytes: 12 * MiB, total: 12 * MiB });

    const verified = await runCli(['verify', `s3://${BUCKET}/cli/cli.bin`, file, '--endpoint-url', server.endpoint, '--json'], env);
    expect(verified.status).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ match: true, xxh64: result.xxh64, metadataXxh64: result.xxh64, fileXxh64: result.xxh64 });

    const other = randomFile(dir, 'other.bin', 12 * MiB);
    const differs = await runCli(['verify', `s3://${BUCKET}/cli/cli.bin`, other, '--endpoint-url', server.endpoint], env);
    expect(differs.status).toBe(4);
    expect(differs.stdout).toContain('DIFFERENT');
    expect(differs.stderr).toMatch(/^diskport: s3:\/\/uploads\/cli\/cli\.bin: differs: .* \(VERIFY_MISMATCH\)\n$/);
  });

  it('takes credentials from a --profile in the shared credentials file', async () => {
    const credentials = join(dir, 'credentials');
    writeFileSync(credentials, `[lab]\naws_access_key_id = ${server.credentials.accessKeyId}\naws_secret_access_key = ${server.credentials.secretAccessKey}\n`);
    const file = randomFile(dir, 'profile.bin', 1000);
    const env = cliEnv(server, { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SHARED_CREDENTIALS_FILE: credentials });
    const run = await runCli(['upload', file, `s3://${BUCKET}/profile`, '--endpoint-url', server.endpoint, '--profile', 'lab'], env);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('uploaded  s3://uploads/profile');
    expect((await objectBytes(s3, BUCKET, 'profile')).equals(readFileSync(file))).toBe(true);
  });

  describe('fails with one line, a stable code and its exit status, never a stack trace or a secret', () => {
    const secret = 'never-print-this-secret-0001';
    it.each([
      ['a malformed URL', ['s3:/uploads/x'], {}, 'S3_URL_INVALID', 2],
      ['a bucket that does not exist', ['s3://no-such-bucket/x'], {}, 'S3_NO_SUCH_BUCKET', 3],
      ['missing credentials', ['s3://uploads/x'], { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }, 'S3_CREDENTIALS_MISSING', 2],
      ['a key the server refuses (403)', ['s3://uploads/x'], { AWS_ACCESS_KEY_ID: 'NOTAKEY', AWS_SECRET_ACCESS_KEY: secret }, 'S3_ACCESS_DENIED', 3],
      ['a part size under 5 MiB', ['s3://uploads/x', '--part-size', '1MiB'], {}, 'USAGE', 2],
      ['--resume with nothing to resume', ['s3://uploads/x', '--resume'], {}, 'RESUME_UNAVAILABLE', 2],
    ])('%s', async (name, args, extraEnv, code, status) => {
      const file = randomFile(dir, 'small.bin', 100);
      const env = cliEnv(server, extraEnv as Record<string, string | undefined>);
      for (const json of [false, true]) {
        const run = await runCli(['upload', file, ...(args as string[]), '--endpoint-url', server.endpoint, ...(json ? ['--json'] : [])], env);
        expect(run.status).toBe(status);
        expect(run.stderr).toMatch(new RegExp(`^diskport: .*\\(${code}\\)\\n$`));
        expect(run.stderr + run.stdout).not.toContain(secret);
        expect(run.stderr).not.toMatch(/\n\s+at /);
        if (!json) continue;
        const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
        expect(lines.at(-1).error.code).toBe(code);
        // found before the file is read: no hashing first
        if (code !== 'S3_ACCESS_DENIED') expect(lines.filter((line) => line.event === 'progress')).toEqual([]);
      }
    });
  });
});
