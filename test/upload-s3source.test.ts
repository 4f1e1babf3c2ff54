/**
 * An S3 object as a ByteSource (ranged GETs, a small block cache), on s3rver: `inspect` and `check` of
 * s3://… give the local file's answers while reading a small part of the object, and the guest content read
 * through S3 equals the local one.
 */
import { readFileSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../src/inspect.js';
import { openImage } from '../src/open.js';
import { S3Source } from '../src/source/s3.js';
import { upload } from '../src/upload/upload.js';
import { expectDiskError, fixture, guestHash, inspectDisk } from './helpers.js';
import { cliEnv, inspector, runCli, useS3rver } from './s3/helpers.js';
import type { S3Endpoint } from './s3/rgw.js';

const BUCKET = 'images';
const IMAGES = ['gpt-uefi.vhdx', 'gpt-uefi.qcow2', 'mbr-bios.vmdk', 'gpt-uefi.raw', 'mixed-dynamic.vhd'];
let server: S3Endpoint & { close(): Promise<void> };
let s3: S3Client;

beforeAll(async () => {
  server = await useS3rver([BUCKET]);
  s3 = inspector(server);
  // S3Source takes its client from the environment, as `diskport inspect s3://…` does.
  Object.assign(process.env, cliEnv(server, { AWS_ENDPOINT_URL_S3: server.endpoint }), { PATH: process.env.PATH });
  for (const name of IMAGES) await upload(fixture(name), `s3://${BUCKET}/${name}`, { client: s3 });
});
afterAll(async () => server?.close());

describe('S3 objects as sources', () => {
  it.each(IMAGES)('inspect s3://…/%s answers as for the file, reading a fraction of it', async (name) => {
    const local = await inspectDisk(fixture(name));
    const remote = await inspectDisk(`s3://${BUCKET}/${name}`);
    const { file: _a, bytesRead: _b, ...localFacts } = local;
    const { file, bytesRead, ...remoteFacts } = remote;
    expect(file).toBe(`s3://${BUCKET}/${name}`);
    expect(remoteFacts).toEqual(localFacts);
    expect(bytesRead).toBeLessThan(Math.max(local.fileSize! / 4, 2 * 1024 * 1024));
  });

  it('reads the same guest bytes as the file (large reads bypass the cache)', async () => {
    const remote = await openImage(`s3://${BUCKET}/gpt-uefi.vhdx`);
    const local = await openImage(fixture('gpt-uefi.vhdx'));
    try {
      expect(await guestHash(remote)).toBe(await guestHash(local));
    } finally {
      await remote.close();
      await local.close();
    }
  });

  it('serves nearby small reads from one cached block, and refuses reads past the end', async () => {
    const source = await S3Source.open(`s3://${BUCKET}/gpt-uefi.raw`, { client: s3 });
    const bytes = readFileSync(fixture('gpt-uefi.raw'));
    expect(source.size).toBe(bytes.length);
    expect(Buffer.from(await source.read(512, 92)).equals(bytes.subarray(512, 604))).toBe(true);
    expect(Buffer.from(await source.read(1024, 16384)).equals(bytes.subarray(1024, 17408))).toBe(true);
    expect(source.bytesRead).toBe(256 * 1024);
    // a read across a block boundary fetches only the block it lacks
    expect(Buffer.from(await source.read(256 * 1024 - 10, 20)).equals(bytes.subarray(256 * 1024 - 10, 256 * 1024 + 10))).toBe(true);
    expect(source.bytesRead).toBe(512 * 1024);
    await expectDiskError(source.read(bytes.length - 10, 20), 'TRUNCATED');
    await source.close();
  });

  it('names a missing object or bucket with its code', async () => {
    await expectDiskError(S3Source.open(`s3://${BUCKET}/no-such-image`, { client: s3 }), 'S3_NO_SUCH_KEY');
    await expectDiskError(inspect('s3://Bad_Bucket/x'), 'S3_URL_INVALID');
  });

  it('works from the CLI: inspect --json and check of s3://… (one, and several on the worker pool)', async () => {
    const env = cliEnv(server, { AWS_ENDPOINT_URL_S3: server.endpoint });
    const inspected = await runCli(['inspect', `s3://${BUCKET}/gpt-uefi.qcow2`, '--json'], env);
    expect(inspected.stderr).toBe('');
    expect(JSON.parse(inspected.stdout)).toMatchObject({ format: 'qcow2', bootMode: 'uefi-preferred', partitionTable: 'gpt' });
    const checked = await runCli(['check', `s3://${BUCKET}/mbr-bios.vmdk`, '--json'], env);
    expect(checked.stderr).toBe('');
    expect(JSON.parse(checked.stdout)).toMatchObject({ file: `s3://${BUCKET}/mbr-bios.vmdk`, ok: true, importImage: { BootMode: 'legacy-bios' } });
    // several inputs are checked on the worker pool's threads, each opening its object there
    const both = await runCli(['check', `s3://${BUCKET}/mbr-bios.vmdk`, `s3://${BUCKET}/gpt-uefi.vhdx`, '--json'], env);
    expect(JSON.parse(both.stdout).results.map((result: { file: string; ok: boolean }) => [result.file, result.ok])).toEqual([
      [`s3://${BUCKET}/mbr-bios.vmdk`, true],
      [`s3://${BUCKET}/gpt-uefi.vhdx`, true],
    ]);
  });
});
