/** `diskport convert` as a user runs it: the built CLI, real files, pipes, exit codes and one-line errors. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';
import { expectQemuCheckClean, expectQemuIdentical } from './writer-oracle.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'diskport-convert-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function diskport(args: string[], input?: Buffer) {
  const result = spawnSync('node', [CLI, ...args], { input, maxBuffer: 256 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr.toString() };
}

/** The CLI without blocking this process (a test's own reader must run meanwhile). */
async function diskportAsync(args: string[]) {
  const child = spawn('node', [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stderr };
}

function expectOneLineFailure(result: ReturnType<typeof diskport>, status: number, code: string) {
  expect(result.status, result.stderr).toBe(status);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toContain(`(${code})`);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('diskport convert', () => {
  it('writes a streamOptimized VMDK chosen by the output name, with a JSON summary and a matching --verify', () => {
    const output = join(dir, 'out.vmdk');
    const result = diskport(['convert', '--json', '--verify', fixture('mixed.qcow2'), output]);
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout.toString());
    expect(summary).toMatchObject({ format: 'vmdk', subformat: 'streamOptimized', virtualSize: 41943040, output });
    expect(summary.outputSize).toBe(statSync(output).size);
    expect(summary.verify.match).toBe(true);
    expect(summary.verify.output).toBe(summary.verify.source);
    expect(summary.verify.source).toMatch(/^[0-9a-f]{16}$/);
    expectQemuCheckClean(output, 'vmdk');
    expectQemuIdentical(fixture('mixed.qcow2'), 'qcow2', output, 'vmdk');
  });

  it('prints a short human summary with the fingerprints', () => {
    const output = join(dir, 'human.raw');
    const result = diskport(['convert', '--verify', fixture('odd.vhdx'), output]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.toString()).toMatch(/^wrote .*human\.raw: raw raw, /m);
    expect(result.stdout.toString()).toMatch(/^verified: content xxh64 [0-9a-f]{16} matches the source$/m);
  });

  it('reads stdin and writes stdout (a pipe at both ends), the summary going to stderr', () => {
    const result = diskport(['convert', '--to', 'vmdk', '--json', '-', '-'], readFileSync(fixture('mixed-compressed.qcow2')));
    expect(result.status, result.stderr).toBe(0);
    const output = join(dir, 'piped.vmdk');
    writeFileSync(output, result.stdout);
    expectQemuIdentical(fixture('mixed-compressed.qcow2'), 'qcow2', output, 'vmdk');
    expect(JSON.parse(result.stderr)).toMatchObject({ output: '-', outputSize: result.stdout.length });
  });

  it('refuses a target that patches its tables when the output is a pipe (NOT_STREAMABLE, exit 5)', () => {
    const result = diskport(['convert', '--to', 'vmdk', '--subformat', 'monolithicSparse', fixture('odd.raw'), '-']);
    expectOneLineFailure(result, 5, 'NOT_STREAMABLE');
    expect(result.stderr).toContain('needs a seekable file');
    expect(result.stdout.length).toBe(0);
  });

  it('refuses to replace an existing output unless --force, and never the input itself', () => {
    const output = join(dir, 'exists.vmdk');
    writeFileSync(output, 'keep me');
    expectOneLineFailure(diskport(['convert', fixture('odd.raw'), output]), 3, 'OUTPUT_EXISTS');
    expect(readFileSync(output, 'utf8')).toBe('keep me');
    expect(diskport(['convert', '--force', fixture('odd.raw'), output]).status).toBe(0);
    expectQemuIdentical(fixture('odd.raw'), 'raw', output, 'vmdk');
    const input = join(dir, 'self.raw');
    writeFileSync(input, readFileSync(fixture('odd.raw')));
    expectOneLineFailure(diskport(['convert', '--force', '--to', 'raw', input, input]), 2, 'USAGE');
  });

  it('writes into a FIFO in place (never renamed over), and refuses what a FIFO cannot take', async () => {
    const fifo = join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    const received = join(dir, 'from-fifo.raw');
    const reader = spawn('sh', ['-c', `cat "${fifo}" > "${received}"`]);
    const readerDone = once(reader, 'close'); // before awaiting the writer: the reader may finish first
    const result = await diskportAsync(['convert', '--force', '--to', 'raw', fixture('odd.raw'), fifo]);
    await readerDone;
    expect(result.status, result.stderr).toBe(0);
    expect(statSync(fifo).isFIFO()).toBe(true);
    expect(readFileSync(received).equals(readFileSync(fixture('odd.raw')))).toBe(true);
    expectOneLineFailure(diskport(['convert', '--force', '--to', 'vhd', '--subformat', 'dynamic', fixture('odd.raw'), fifo]), 5, 'NOT_STREAMABLE');
    expectOneLineFailure(diskport(['convert', '--force', '--verify', '--to', 'raw', fixture('odd.raw'), fifo]), 2, 'USAGE');
    expect(statSync(fifo).isFIFO()).toBe(true);
  });

  it('names bad options, echoing the value (exit 2)', () => {
    const output = join(dir, 'bad.vmdk');
    for (const args of [
      ['--subformat', 'flat'],
      ['--workers', '0'],
      ['--workers', 'lots'],
      ['--to', 'qcow2'],
    ]) {
      const result = diskport(['convert', ...args, fixture('odd.raw'), output]);
      expectOneLineFailure(result, 2, 'USAGE');
    }
    const noFormat = diskport(['convert', fixture('odd.raw'), join(dir, 'out.bin')]);
    expectOneLineFailure(noFormat, 2, 'USAGE');
    expect(noFormat.stderr).toContain('--to');
  });

  it('leaves no output behind when the input is broken, and names the input', () => {
    const broken = join(dir, 'broken.qcow2');
    const bytes = Buffer.from(readFileSync(fixture('mixed.qcow2')));
    bytes.writeUInt32BE(0xffff, 4); // version 65535
    writeFileSync(broken, bytes);
    const output = join(dir, 'never.vmdk');
    const result = diskport(['convert', broken, output]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('broken.qcow2');
    expect(() => statSync(output)).toThrow();
    expect(() => statSync(`${output}.diskport-partial`)).toThrow();
  });
});
