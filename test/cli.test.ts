/** The CLI as a user runs it: the built `diskport` entry point, real processes, real files. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, qemuRawHash, sha256File } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'diskport-cli-'));

function diskport(args: string[], options: { input?: Buffer; stdinFile?: string } = {}) {
  const stdio = options.stdinFile === undefined ? 'pipe' : [openSync(options.stdinFile, 'r'), 'pipe', 'pipe'];
  const result = spawnSync('node', [CLI, ...args], {
    input: options.input,
    stdio: stdio as never,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: result.status, stdout: result.stdout as Buffer, stderr: result.stderr.toString() };
}

function expectOneLineFailure(result: ReturnType<typeof diskport>, status: number, code: string) {
  expect(result.status).toBe(status);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toContain(code);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('diskport inspect', () => {
  it('prints exactly one JSON object with --json', () => {
    const result = diskport(['inspect', '--json', fixture('odd.raw')]);
    expect(result.status).toBe(0);
    const lines = result.stdout.toString().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'raw', subformat: null, virtualSize: 5244416 });
  });

  it('prints a short table without --json', () => {
    const result = diskport(['inspect', fixture('odd.raw')]);
    expect(result.status).toBe(0);
    expect(result.stdout.toString()).toMatch(/^format\s+raw$/m);
    expect(result.stdout.toString()).toMatch(/^virtual size\s+5\.00 MiB \(5244416 bytes\)$/m);
  });

  it('reads stdin as a pipe and as a redirected file', () => {
    const path = fixture('odd.raw');
    const piped = diskport(['inspect', '--json', '-'], { input: readFileSync(path) });
    expect(JSON.parse(piped.stdout.toString())).toMatchObject({ file: '-', virtualSize: 5244416, randomAccess: false });
    const redirected = diskport(['inspect', '--json', '-'], { stdinFile: path });
    expect(JSON.parse(redirected.stdout.toString())).toMatchObject({ file: '-', virtualSize: 5244416, randomAccess: true });
  });

  it('reports a missing file with FILE_NOT_FOUND, exit 3, one line, JSON error on stdout', () => {
    const result = diskport(['inspect', '--json', join(dir, 'missing.img')]);
    expectOneLineFailure(result, 3, 'FILE_NOT_FOUND');
    expect(JSON.parse(result.stdout.toString())).toEqual({
      error: { code: 'FILE_NOT_FOUND', message: 'no such file', file: join(dir, 'missing.img') },
    });
  });

  it('reports an empty file with EMPTY_IMAGE, exit 4', () => {
    const empty = join(dir, 'empty.img');
    writeFileSync(empty, '');
    const result = diskport(['inspect', '--json', empty]);
    expectOneLineFailure(result, 4, 'EMPTY_IMAGE');
    expect(JSON.parse(result.stdout.toString()).error.code).toBe('EMPTY_IMAGE');
  });

  it('reports usage errors with USAGE, exit 2', () => {
    expectOneLineFailure(diskport(['inspect', '--no-such-flag', 'x']), 2, 'USAGE');
    expectOneLineFailure(diskport(['inspect']), 2, 'USAGE');
    expectOneLineFailure(diskport(['inspect', '--format', 'floppy', 'x']), 2, 'USAGE');
    const json = diskport(['frobnicate', '--json']);
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stdout.toString()).error.code).toBe('USAGE');
  });

  it('prints help and version with exit 0', () => {
    expect(diskport(['--help']).stdout.toString()).toContain('inspect');
    expect(diskport(['--version']).status).toBe(0);
  });
});

describe('diskport cat', () => {
  it('writes the guest bytes to stdout', () => {
    const result = diskport(['cat', fixture('odd.raw')]);
    expect(result.status).toBe(0);
    expect(createHash('sha256').update(result.stdout).digest('hex')).toBe(qemuRawHash(fixture('odd.raw'), 'raw'));
  });

  it('writes a sparse file with -o and a JSON summary', () => {
    const out = join(dir, 'out.raw');
    const result = diskport(['cat', '--json', '-o', out, fixture('mixed.raw')]);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout.toString())).toMatchObject({ virtualSize: 41943040 });
    expect(statSync(out).size).toBe(41943040);
    expect(sha256File(out)).toBe(sha256File(fixture('mixed.raw')));
  });

  it('fails cleanly when the output cannot be written', () => {
    const result = diskport(['cat', '-o', join(dir, 'no', 'such', 'dir', 'x.raw'), fixture('odd.raw')]);
    expectOneLineFailure(result, 3, 'IO_ERROR');
  });

  it('reports a full disk as IO_ERROR naming the output', () => {
    const result = diskport(['cat', '-o', '/dev/full', fixture('mixed.qcow2')]);
    expectOneLineFailure(result, 3, 'IO_ERROR');
    expect(result.stderr).toContain('/dev/full');
  });
});

describe('diskport check', () => {
  it('exit 0 and "ok" for an image VM Import takes; --json is one object with findings and the request', () => {
    const human = diskport(['check', fixture('mbr-bios.vmdk')]);
    expect(human.status).toBe(0);
    expect(human.stdout.toString()).toMatch(/mbr-bios\.vmdk: ok \(VMDK, legacy-bios, Linux\)/);
    const json = diskport(['check', '--json', fixture('mbr-bios.vmdk')]);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout.toString());
    expect(report).toMatchObject({ ok: true, counts: { errors: 0 }, importImage: { BootMode: 'legacy-bios' } });
  });

  it('exit 1 with each finding, its code and its fix, when a rule fails', () => {
    const result = diskport(['check', fixture('mixed-sparse.vmdk')]);
    expect(result.status).toBe(1);
    expect(result.stdout.toString()).toMatch(/error\s+VMDK_NOT_STREAM_OPTIMIZED: .*monolithicSparse/);
    expect(result.stdout.toString()).toMatch(/fix: convert it: diskport convert /);
  });

  it('exit 2 for unreadable input (the error named), and for bad arguments', () => {
    const missing = diskport(['check', '--json', join(dir, 'nope.vmdk')]);
    expect(missing.status).toBe(2);
    expect(JSON.parse(missing.stdout.toString())).toMatchObject({ ok: false, error: { code: 'FILE_NOT_FOUND' } });
    expect(diskport(['check', '--boot-mode', 'sideways', fixture('mbr-bios.vmdk')]).status).toBe(2);
  });

  it('several inputs and a folder: results in input order, the worst status wins', () => {
    const folder = mkdtempSync(join(tmpdir(), 'diskport-check-dir-'));
    for (const name of ['b-mbr-bios.vmdk', 'a-gpt-uefi.vhdx']) {
      writeFileSync(join(folder, name), readFileSync(fixture(name.slice(2))));
    }
    const result = diskport(['check', '--json', fixture('mixed-sparse.vmdk'), folder, fixture('mbr-bios.raw')]);
    expect(result.status).toBe(1);
    const { results } = JSON.parse(result.stdout.toString());
    expect(results.map((r: { file: string }) => r.file.split('/').pop())).toEqual([
      'mixed-sparse.vmdk', 'a-gpt-uefi.vhdx', 'b-mbr-bios.vmdk', 'mbr-bios.raw',
    ]);
    expect(results.map((r: { ok: boolean }) => r.ok)).toEqual([false, true, true, true]);
  });

  it('--import-image-json prints a request aws ec2 import-image --cli-input-json takes', () => {
    const result = diskport(['check', '--import-image-json', '--bucket', 'imports', '--prefix', 'vm1/', '--boot-mode', 'uefi',
      fixture('gpt-uefi.vmdk'), fixture('mbr-bios-dynamic.vhd')]);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout.toString())).toEqual({
      DiskContainers: [
        { Description: 'gpt-uefi.vmdk', Format: 'VMDK', UserBucket: { S3Bucket: 'imports', S3Key: 'vm1/gpt-uefi.vmdk' } },
        { Description: 'mbr-bios-dynamic.vhd', Format: 'VHD', UserBucket: { S3Bucket: 'imports', S3Key: 'vm1/mbr-bios-dynamic.vhd' } },
      ],
      BootMode: 'uefi',
      Architecture: 'x86_64',
      Platform: 'Linux',
      ClientData: {
        UploadSize: Math.round(((statSync(fixture('gpt-uefi.vmdk')).size + statSync(fixture('mbr-bios-dynamic.vhd')).size) / 2 ** 30) * 1e6) / 1e6,
        Comment: 'parameters from diskport check',
      },
    });
    expect(result.stderr).toMatch(/gpt-uefi\.vmdk: ok/);
  });

  it('checks an OVA from a pipe, verifying its manifest on the way', () => {
    const ova = readFileSync(fixture('ova-two-disks.ova'));
    const result = diskport(['check', '--json', '--verify', '-'], { input: ova });
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout.toString());
    expect(report.inspect).toMatchObject({ format: 'ova', randomAccess: false, verification: { mismatches: [], missing: [] } });
    // A pipe has no file size; what streamed through is the upload size.
    expect(report.importImage.ClientData.UploadSize).toBe(Math.round((ova.length / 2 ** 30) * 1e6) / 1e6);
    expect(report.inspect.disks[0]).toMatchObject({ partitionTable: 'gpt', bootMode: 'uefi-preferred', filesystems: ['ext4', 'vfat'] });
    const bad = diskport(['check', '--verify', '-'], { input: readFileSync(fixture('ova-bad-digest.ova')) });
    expect(bad.status).toBe(1);
    expect(bad.stdout.toString()).toContain('OVA_MANIFEST_MISMATCH');
  });

  it('inspect --verify fails with MANIFEST_MISMATCH (exit 4) on a bad digest', () => {
    const result = diskport(['inspect', '--verify', fixture('ova-bad-digest.ova')]);
    expect(result.status).toBe(4);
    expect(result.stderr).toContain('MANIFEST_MISMATCH');
  });
});

describe('the error codes', () => {
  it('README documents every DiskError code, and each code has a known exit kind', async () => {
    const { ErrorCodes, ExitStatus } = await import('../src/errors.js');
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    for (const code of Object.keys(ErrorCodes)) expect(readme, code).toContain(`\`${code}\``);
    expect(Object.values(ErrorCodes).every((kind) => kind in ExitStatus)).toBe(true);
  });
});
