/**
 * The worker pool: range hashing against node:crypto, checkMany against check() on the main thread, faults
 * (hang, exit, uncaught exception, out of memory) contained to their file, and expandInputs.
 * The pool runs dist/workers/worker.js, so this needs a build first (`npm test` runs tsc).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../src/check.js';
import { asDiskError } from '../src/errors.js';
import { checkMany, expandInputs, type CheckManyOptions, type CheckOutcome } from '../src/workers/check-many.js';
import { hashFileRange, type DigestAlgorithm } from '../src/workers/hash.js';
import { destroyPool } from '../src/workers/pool.js';
import { expectDiskError, fixture, seeded } from './helpers.js';

const MiB = 1024 * 1024;
let dir: string;
let data: Buffer;
let dataFile: string;

beforeAll(() => {
  // Workers copy the environment when they start, and the pool starts lazily (first task), so this is in
  // place for every worker of this file. It enables the fault suffixes documented in src/workers/worker.ts.
  process.env.DISKPORT_TEST_FAULTS = '1';
  dir = mkdtempSync(join(tmpdir(), 'diskport-workers-'));
  const random = seeded(42);
  data = Buffer.alloc(9 * MiB + 123);
  for (let at = 0; at + 4 <= data.length; at += 4) data.writeUInt32LE(random(), at);
  dataFile = join(dir, 'data.bin');
  writeFileSync(dataFile, data);
});

afterAll(async () => {
  await destroyPool();
  rmSync(dir, { recursive: true, force: true });
});

describe('hashFileRange', () => {
  const ranges: [string, number, number][] = [
    ['empty', 0, 0],
    ['empty at the end', 9 * MiB + 123, 0],
    ['odd offset', 1, 4097],
    ['whole file', 0, 9 * MiB + 123],
    ['over 8 MiB from an odd offset', 3, 8 * MiB + 5],
    ['the last byte', 9 * MiB + 122, 1],
  ];
  for (const algorithm of ['sha1', 'sha256', 'sha512'] as DigestAlgorithm[]) {
    it(`${algorithm} equals node:crypto over the same bytes`, async () => {
      const digests = await Promise.all(ranges.map(([, offset, length]) => hashFileRange(dataFile, offset, length, algorithm)));
      ranges.forEach(([name, offset, length], i) => {
        const expected = createHash(algorithm).update(data.subarray(offset, offset + length)).digest('hex');
        expect(digests[i], name).toBe(expected);
      });
    });
  }

  it('reports a bad path, a folder, a range past the end and bad arguments by code', async () => {
    await expectDiskError(hashFileRange(join(dir, 'missing.bin'), 0, 10, 'sha256'), 'FILE_NOT_FOUND');
    await expectDiskError(hashFileRange(dir, 0, 10, 'sha256'), 'IO_ERROR');
    const past = await expectDiskError(hashFileRange(dataFile, 9 * MiB, 124, 'sha256'), 'TRUNCATED');
    expect(past.file).toBe(dataFile);
    expect(past.offset).toBe(data.length);
    await expectDiskError(hashFileRange(dataFile, data.length + 1, 0, 'sha1'), 'TRUNCATED');
    await expectDiskError(hashFileRange(dataFile, -1, 10, 'sha1'), 'OFFSET_OUT_OF_RANGE');
    await expectDiskError(hashFileRange(dataFile, 0, 1.5, 'sha1'), 'OFFSET_OUT_OF_RANGE');
    await expectDiskError(hashFileRange(dataFile, 0, 1, 'md5' as DigestAlgorithm), 'USAGE');
  });

  it('does not keep a process alive once its work is done', () => {
    const hashModule = new URL('../dist/workers/hash.js', import.meta.url).href;
    const script = `import(${JSON.stringify(hashModule)}).then((m) => m.hashFileRange(${JSON.stringify(dataFile)}, 0, 10, 'sha1')).then(console.log)`;
    const started = Date.now();
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(out.trim()).toBe(createHash('sha1').update(data.subarray(0, 10)).digest('hex'));
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('checkMany', () => {
  /** What check() on this thread says of a file, in checkMany's outcome shape. */
  async function mainThread(file: string): Promise<CheckOutcome> {
    try {
      return { file, report: await check(file) };
    } catch (error) {
      return { file, error: asDiskError(error, file).toJSON() };
    }
  }

  const codeOf = (outcome: CheckOutcome): unknown => ('error' in outcome ? outcome.error.code : 'report');

  it('gives the same reports as check() on the main thread, in input order', async () => {
    const files = [
      'gpt-uefi.vmdk',
      'mbr-bios.qcow2',
      'mixed-dynamic.vhd',
      'odd.vhdx',
      'mixed.raw',
      'mixed-sparse.vmdk',
      'encrypted.qcow2',
      'child-backing.qcow2',
      'does-not-exist.img',
    ].map(fixture);
    const outcomes = await checkMany(files);
    expect(outcomes.map((outcome) => outcome.file)).toEqual(files);
    for (const [i, file] of files.entries()) expect(outcomes[i], file).toEqual(await mainThread(file));
  });

  // OVA fixtures come from test/images/make-ova.sh. With verify, each probe hashes the OVA's entries through
  // hashFileRange, which inside a worker hashes in that thread rather than start a pool of its own.
  const ovas = ['ova-two-disks.ova', 'ova-bad-digest.ova', 'ova-gzip.ova'].map(fixture);
  it.skipIf(!ovas.every((file) => existsSync(file)))('verifies OVA manifests inside the workers as check() does', async () => {
    const outcomes = await checkMany(ovas, { verify: true });
    for (const [i, file] of ovas.entries()) expect(outcomes[i], file).toEqual({ file, report: await check(file, { verify: true }) });
  });

  /** A file that is no image; its name's suffix picks a test fault (see src/workers/worker.ts). */
  const fault = (name: string): string => {
    writeFileSync(join(dir, name), 'not an image');
    return join(dir, name);
  };

  // On a 2-core machine the two faults at the head of each batch take both threads and kill them; the pool
  // must then start new threads for the files queued behind. Each batch starts from a fresh pool, as a CLI does.
  it('reports an exit and an uncaught exception for their files while the others succeed', async () => {
    await destroyPool();
    const files = [fault('first.crash'), fault('second.crash'), fixture('gpt-uefi.vhdx'), fault('third.throw'), fixture('odd.qcow2')];
    const outcomes = await checkMany(files);
    expect(outcomes.map((outcome) => outcome.file)).toEqual(files);
    expect(outcomes.map(codeOf)).toEqual(['PROBE_CRASHED', 'PROBE_CRASHED', 'report', 'PROBE_CRASHED', 'report']);
    for (const i of [2, 4]) expect(outcomes[i]).toEqual(await mainThread(files[i]!));
  });

  it('stops a probe that hangs and reports it, and the clock starts only when a worker takes the task', async () => {
    await destroyPool();
    // The files queued behind the two hangs wait about timeoutMs before they start; they must not time out.
    const files = [fault('first.hang'), fault('second.hang'), fixture('mbr-bios.vmdk'), fixture('odd.vhdx'), fixture('mixed.qcow2')];
    const outcomes = await checkMany(files, { timeoutMs: 1_000 });
    expect(outcomes.map((outcome) => outcome.file)).toEqual(files);
    expect(outcomes.map(codeOf)).toEqual(['PROBE_TIMEOUT', 'PROBE_TIMEOUT', 'report', 'report', 'report']);
    for (const i of [2, 3, 4]) expect(outcomes[i]).toEqual(await mainThread(files[i]!));
  });

  it('reports a worker that runs out of memory as crashed', async () => {
    const outcomes = await checkMany([fault('heap.oom'), fixture('odd.raw')]);
    expect(outcomes.map(codeOf)).toEqual(['PROBE_CRASHED', 'report']);
  });

  it('finishes in a process of its own (nothing else keeping it alive) when the first probes all die', () => {
    // In a CLI, nothing but the pool keeps the process alive: if the pool had no thread left for the queued
    // files (piscina replaces dead workers only up to minThreads, see pool.ts), node would quit mid-batch.
    const moduleUrl = new URL('../dist/workers/check-many.js', import.meta.url).href;
    const batches = [
      [fault('one.crash'), fault('two.crash'), fixture('odd.raw')],
      [fault('one.hang'), fault('two.hang'), fixture('odd.raw')],
    ];
    const script = `
      const { checkMany } = await import(${JSON.stringify(moduleUrl)});
      for (const batch of ${JSON.stringify(batches)}) {
        const outcomes = await checkMany(batch, { timeoutMs: 500 });
        console.log(outcomes.map((o) => ('error' in o ? o.error.code : 'report')).join(' '));
      }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 15_000,
      env: { ...process.env, DISKPORT_TEST_FAULTS: '1' },
    });
    expect(out.trim().split('\n')).toEqual(['PROBE_CRASHED PROBE_CRASHED report', 'PROBE_TIMEOUT PROBE_TIMEOUT report']);
  });

  it('refuses options that cannot cross threads or make no sense', async () => {
    await expectDiskError(checkMany([fixture('odd.raw')], { timeoutMs: 0 }), 'USAGE');
    const notData = { intent: { bootMode: (() => 'uefi') as unknown } } as unknown as CheckManyOptions;
    await expectDiskError(checkMany([fixture('odd.raw')], notData), 'USAGE');
  });
});

describe('expandInputs', () => {
  it('turns a folder into its regular files, sorted, and keeps everything else as given', async () => {
    const folder = join(dir, 'images');
    mkdirSync(join(folder, 'nested'), { recursive: true });
    for (const name of ['b.vmdk', 'a.qcow2', '.hidden', 'nested/inner.raw', 'C.vhd']) writeFileSync(join(folder, name), 'x');
    symlinkSync(join(folder, 'a.qcow2'), join(folder, 'link.qcow2'));
    symlinkSync(join(folder, 'gone'), join(folder, 'dangling'));
    const expanded = await expandInputs([dataFile, folder, 'missing.img', '-']);
    expect(expanded).toEqual([
      dataFile,
      join(folder, 'C.vhd'),
      join(folder, 'a.qcow2'),
      join(folder, 'b.vmdk'),
      join(folder, 'link.qcow2'),
      'missing.img',
      '-',
    ]);
  });

  it('skips VMDK extent files whose descriptor sits beside them, and keeps orphans', async () => {
    const folder = join(dir, 'vmware');
    mkdirSync(folder, { recursive: true });
    for (const name of ['vm.vmdk', 'vm-flat.vmdk', 'big.vmdk', 'big-s001.vmdk', 'big-s002.vmdk', 'lost-flat.vmdk']) {
      writeFileSync(join(folder, name), 'x');
    }
    expect(await expandInputs([folder])).toEqual([join(folder, 'big.vmdk'), join(folder, 'lost-flat.vmdk'), join(folder, 'vm.vmdk')]);
  });
});
