/**
 * `upload --as`: converting while uploading, on s3rver. The object is checked with qemu-img (compare against the
 * source, check of its structure), and the content hash the upload returns matches verify's.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadConverted } from '../src/upload/convert-upload.js';
import { verify } from '../src/upload/verify.js';
import { expectDiskError, fixture } from './helpers.js';
import { MiB, cliEnv, inspector, objectBytes, runCli, useS3rver } from './s3/helpers.js';
import type { S3Endpoint } from './s3/rgw.js';

const BUCKET = 'converted';
let server: S3Endpoint & { close(): Promise<void> };
let s3: S3Client;
const dir = mkdtempSync(join(tmpdir(), 'diskport-upload-convert-'));

beforeAll(async () => {
  server = await useS3rver([BUCKET]);
  s3 = inspector(server);
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function download(key: string, name: string): Promise<string> {
  const path = join(dir, name);
  writeFileSync(path, await objectBytes(s3, BUCKET, key));
  return path;
}

describe('upload --as', () => {
  it.each([
    ['vmdk', 'gpt-uefi.qcow2', 'qcow2', 'vmdk'],
    ['vhd', 'mbr-bios.vmdk', 'vmdk', 'vpc'],
    ['raw', 'mixed-compressed.qcow2', 'qcow2', 'raw'],
  ] as const)('--as %s of %s: the object holds the same disk (qemu-img compare), in parts of unknown total', async (as, name, sourceFormat, qemuFormat) => {
    const result = await uploadConverted(fixture(name), `s3://${BUCKET}/${as}/`, {
      as,
      endpointUrl: server.endpoint,
      credentials: server.credentials,
      partSize: 5 * MiB,
    });
    expect(result.key).toBe(`${as}/${name.replace(/\.[^.]+$/, '')}.${as}`);
    const copy = await download(result.key, `copy.${as}`);
    execFileSync('qemu-img', ['compare', '-f', sourceFormat, '-F', qemuFormat, fixture(name), copy]);
    if (as === 'vmdk') execFileSync('qemu-img', ['check', '-f', 'vmdk', copy]);
    const verified = await verify(`s3://${BUCKET}/${result.key}`, copy, { endpointUrl: server.endpoint, credentials: server.credentials });
    expect(verified).toMatchObject({ match: true, xxh64: result.xxh64, size: result.size });
    if (as === 'raw') expect(result.parts).toBeGreaterThan(1);
  });

  it('refuses --resume for a conversion, and a format VM Import cannot take as a stream', async () => {
    const options = { endpointUrl: server.endpoint, credentials: server.credentials };
    await expectDiskError(uploadConverted(fixture('gpt-uefi.qcow2'), `s3://${BUCKET}/x`, { ...options, as: 'vmdk', resume: true }), 'RESUME_UNAVAILABLE');
    const run = await runCli(['upload', fixture('gpt-uefi.qcow2'), `s3://${BUCKET}/x`, '--as', 'vhdx', '--endpoint-url', server.endpoint], cliEnv(server));
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--as.*\(USAGE\)\n$/);
  });

  it('works from the CLI', async () => {
    const run = await runCli(['upload', fixture('gpt-uefi.qcow2'), `s3://${BUCKET}/cli/`, '--as', 'vmdk', '--endpoint-url', server.endpoint, '--json'], cliEnv(server));
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'result', key: 'cli/gpt-uefi.vmdk', format: 'vmdk', subformat: 'streamOptimized' });
  });
});
