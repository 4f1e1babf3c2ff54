/** The uploader's pure parts: S3 URLs, part sizing, the resume state file, the progress meter. No server. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskError } from '../src/errors.js';
import { clientConfig } from '../src/upload/client.js';
import { partChecksum } from '../src/upload/multipart.js';
import { createContentHasher, hashSource } from '../src/upload/content-hash.js';
import { MemorySource } from '../src/source/memory.js';
import { S3Limits, parseByteSize, planParts } from '../src/upload/part-size.js';
import { jsonLines, type ProgressLine } from '../src/cli/progress.js';
import { StateFile, readState, type UploadState } from '../src/upload/state.js';
import { parseS3Url } from '../src/upload/target.js';
import { BufferPool, sendParts, sourceParts, streamParts } from '../src/upload/part-loop.js';
import { expectDiskError } from './helpers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const dir = mkdtempSync(join(tmpdir(), 'diskport-upload-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function codeOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (error instanceof DiskError) return error.code;
    throw error;
  }
  return 'ok';
}

describe('s3:// URLs', () => {
  it('splits bucket and key, and appends the file name to a folder key', () => {
    expect(parseS3Url('s3://images/vm/disk.vmdk')).toEqual({ bucket: 'images', key: 'vm/disk.vmdk' });
    expect(parseS3Url('s3://images/vm/', 'disk.vmdk')).toEqual({ bucket: 'images', key: 'vm/disk.vmdk' });
    expect(parseS3Url('s3://images', 'disk.vmdk')).toEqual({ bucket: 'images', key: 'disk.vmdk' });
  });

  it.each([
    ['http://images/disk', 'not s3://'],
    ['s3:/images/disk', 'one slash'],
    ['s3:///disk', 'no bucket'],
    ['s3://images', 'no key'],
    ['s3://images/', 'empty key'],
    ['s3://Images/disk', 'upper case'],
    ['s3://ab/disk', 'too short'],
    ['s3://bad_name/disk', 'underscore'],
    ['s3://a..b/disk', 'two dots'],
    ['s3://192.168.1.1/disk', 'an IP address'],
    [`s3://images/${'k'.repeat(1025)}`, 'a key over 1024 bytes'],
    ['s3://images/a\nb', 'a control character'],
  ])('refuses %j (%s) with S3_URL_INVALID, echoing it', (url) => {
    expect(codeOf(() => parseS3Url(url))).toBe('S3_URL_INVALID');
    expect(() => parseS3Url(url)).toThrow(JSON.stringify(url));
  });
});

describe('part sizing', () => {
  it('uses 16 MiB parts, 8 at a time, for ordinary files', () => {
    expect(planParts({ size: 100 * MiB, name: 'f' })).toEqual({ partSize: 16 * MiB, concurrency: 8, parts: 7 });
    expect(planParts({ size: 0, name: 'f' }).parts).toBe(1);
  });

  it('grows the parts in whole MiB until 10,000 of them hold the file, and lowers the concurrency to stay in 1 GiB', () => {
    const plan = planParts({ size: 2048 * GiB, name: 'f' });
    expect(plan.partSize).toBe(210 * MiB);
    expect(plan.parts).toBeLessThanOrEqual(S3Limits.maxParts);
    expect(plan.concurrency).toBe(4);
    const largest = planParts({ size: S3Limits.maxObjectSize, name: 'f' });
    expect(largest.parts).toBeLessThanOrEqual(S3Limits.maxParts);
    expect(largest.concurrency).toBe(1);
  });

  it('sizes a stream for its expected length', () => {
    expect(planParts({ size: undefined, expectedSize: 500 * GiB, name: 's' })).toMatchObject({ partSize: 52 * MiB, parts: undefined });
  });

  it('fails early past S3 limits, saying what would fit', () => {
    expect(codeOf(() => planParts({ size: S3Limits.maxObjectSize + 1, name: 'f' }))).toBe('UPLOAD_TOO_LARGE');
    expect(() => planParts({ size: 100 * GiB, partSize: 5 * MiB, name: 'f' })).toThrow('use --part-size 11MiB or more');
    expect(codeOf(() => planParts({ size: 100 * GiB, partSize: 5 * MiB, name: 'f' }))).toBe('UPLOAD_TOO_LARGE');
    expect(codeOf(() => planParts({ size: 10, partSize: 5 * MiB - 1, name: 'f' }))).toBe('USAGE');
    expect(codeOf(() => planParts({ size: 10, partSize: 5 * GiB + 1, name: 'f' }))).toBe('USAGE');
    expect(codeOf(() => planParts({ size: 10, concurrency: 0, name: 'f' }))).toBe('USAGE');
    expect(codeOf(() => planParts({ size: 10, concurrency: 65, name: 'f' }))).toBe('USAGE');
  });

  it('reads sizes as the CLI writes them', () => {
    expect(parseByteSize('16MiB', '--part-size')).toBe(16 * MiB);
    expect(parseByteSize('16m', '--part-size')).toBe(16 * MiB);
    expect(parseByteSize('1GiB', '--part-size')).toBe(GiB);
    expect(parseByteSize('5242880', '--part-size')).toBe(5 * MiB);
    expect(codeOf(() => parseByteSize('16 parsecs', '--part-size'))).toBe('USAGE');
    expect(codeOf(() => parseByteSize('-5MiB', '--part-size'))).toBe('USAGE');
  });
});

describe('client options', () => {
  it('uses path-style addressing and us-east-1 for a custom endpoint, and checksums only where required', () => {
    const config = clientConfig({ endpointUrl: 'http://127.0.0.1:9000' });
    expect(config).toMatchObject({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
    expect(config.region === 'us-east-1' || config.region === process.env.AWS_REGION).toBe(true);
    expect(codeOf(() => clientConfig({ endpointUrl: 'ftp://x' }))).toBe('USAGE');
    expect(codeOf(() => clientConfig({ endpointUrl: 'not a url' }))).toBe('USAGE');
  });

  it('hashes a source with XXH64 (as xxhsum -H64), reading ahead of the hashing', async () => {
    const bytes = randomBytes(4 * 4 * MiB + 5); // five pieces, the last short: more than the buffers, which are reused
    const whole = await createContentHasher();
    whole.update(bytes);
    const done: number[] = [];
    expect(await hashSource(new MemorySource('m', bytes), bytes.length, { onBytes: (count) => done.push(count) })).toBe(whole.digest());
    expect(done).toEqual([4 * MiB, 8 * MiB, 12 * MiB, 16 * MiB, bytes.length]);
    expect(await hashSource(new MemorySource('e', new Uint8Array(0)), 0)).toBe('ef46db3751d8e999'); // XXH64 of nothing, seed 0
    const stopped = new AbortController();
    stopped.abort();
    await expectDiskError(hashSource(new MemorySource('m', bytes), bytes.length, { signal: stopped.signal }), 'UPLOAD_INTERRUPTED');
  });

  it('computes the CRC32 S3 expects (base64 of the big-endian value)', () => {
    // CRC-32 of "123456789" is 0xCBF43926, the standard check value.
    expect(partChecksum(Buffer.from('123456789'))).toBe(Buffer.from([0xcb, 0xf4, 0x39, 0x26]).toString('base64'));
  });
});

describe('the resume state file', () => {
  const state = (): UploadState => ({
    version: 1,
    bucket: 'b',
    key: 'k',
    endpoint: null,
    uploadId: 'u1',
    partSize: 5 * MiB,
    source: { path: '/f', size: 11 * MiB, mtimeMs: 1, xxh64: '0123456789abcdef' },
    parts: [],
  });

  it('is rewritten atomically after each part, and a part recorded twice is kept once', async () => {
    const path = join(dir, 'state.json');
    const file = new StateFile(path, state());
    await Promise.all([1, 2, 3].map((n) => file.record({ partNumber: n, size: 5 * MiB, etag: `"e${n}"`, crc32: 'AAAAAA==' })));
    await file.record({ partNumber: 2, size: 5 * MiB, etag: '"e2b"', crc32: 'AAAAAA==' });
    const read = await readState(path);
    expect(read!.parts.map((part) => [part.partNumber, part.etag]).sort()).toEqual([[1, '"e1"'], [2, '"e2b"'], [3, '"e3"']]);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    await file.remove();
    expect(await readState(path)).toBeUndefined();
  });

  it('reports a full disk as STATE_WRITE_FAILED, naming the file and the fix', async () => {
    // /dev/full answers every write with ENOSPC: the temporary file is made a link to it.
    const path = join(dir, 'full.json');
    symlinkSync('/dev/full', `${path}.tmp`);
    const error = await expectDiskError(new StateFile(path, state()).save(), 'STATE_WRITE_FAILED');
    expect(error.message).toContain('the disk is full (ENOSPC)');
    expect(error.message).toContain('--state');
    expect(error.file).toBe(path);
    expect(existsSync(path)).toBe(false);
  });

  it('refuses a damaged state file with STATE_INVALID', async () => {
    const path = join(dir, 'damaged.json');
    writeFileSync(path, '{"version": 1, "bucket": "b"');
    await expectDiskError(readState(path), 'STATE_INVALID');
    writeFileSync(path, JSON.stringify({ ...state(), parts: [{ partNumber: 'one' }] }));
    await expectDiskError(readState(path), 'STATE_INVALID');
    expect(readFileSync(path, 'utf8')).toContain('"one"');
  });
});

describe('the part loop', () => {
  const bytes = randomBytes(9 * 1024 + 7);
  const partSize = 1024; // the loop itself has no minimum; S3's is checked in planParts

  it('sends every part once, at most `concurrency` at a time, from a pool of concurrency + 1 buffers', async () => {
    const pool = new BufferPool(3, partSize);
    const seen = new Map<number, Buffer>();
    const buffers = new Set<ArrayBufferLike>();
    let inFlight = 0;
    let most = 0;
    await sendParts(sourceParts(new MemorySource('m', bytes), bytes.length, partSize, new Set([4]), pool), 2, async (part) => {
      most = Math.max(most, ++inFlight);
      buffers.add(part.bytes.buffer);
      await new Promise((resolve) => setTimeout(resolve, 2));
      seen.set(part.number, Buffer.from(part.bytes));
      inFlight--;
    }, undefined);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10]);
    for (const [number, part] of seen) expect(part.equals(bytes.subarray((number - 1) * partSize, number * partSize))).toBe(true);
    expect(most).toBe(2);
    expect(buffers.size).toBeLessThanOrEqual(3);
  });

  it('sends nothing when interrupted before it starts', async () => {
    const interrupted = new AbortController();
    interrupted.abort();
    const started: number[] = [];
    const parts = sourceParts(new MemorySource('m', bytes), bytes.length, partSize, new Set(), new BufferPool(3, partSize));
    await expect(sendParts(parts, 2, async (part) => void started.push(part.number), interrupted.signal)).rejects.toBeDefined();
    expect(started).toEqual([]);
  });

  it('stops at the first failure: no part is started after it, and it is what is thrown', async () => {
    const started: number[] = [];
    const work = sendParts(sourceParts(new MemorySource('m', bytes), bytes.length, partSize, new Set(), new BufferPool(3, partSize)), 2, async (part, signal) => {
      started.push(part.number);
      if (part.number === 3) throw new DiskError('S3_REQUEST_FAILED', 'part 3 failed');
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (signal.aborted) throw new Error('aborted');
    }, undefined);
    await expectDiskError(work, 'S3_REQUEST_FAILED');
    expect(Math.max(...started)).toBeLessThanOrEqual(4);
  });

  it('cuts a stream of odd-sized chunks into full parts and a tail, hashing every byte', async () => {
    async function* chunks(): AsyncIterable<Uint8Array> {
      for (let at = 0; at < bytes.length; at += 700) yield bytes.subarray(at, at + 700);
    }
    const hasher = await createContentHasher();
    const parts: Buffer[] = [];
    for await (const part of streamParts(chunks(), partSize, new BufferPool(2, partSize), hasher, 's')) {
      parts.push(Buffer.from(part.bytes));
      part.release();
    }
    expect(parts.map((part) => part.length)).toEqual([...Array(9).fill(partSize), 7]);
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    expect(hasher.digest()).toBe(await hashSource(new MemorySource('m', bytes), bytes.length));
  });
});

describe('JSON-lines progress', () => {
  it('writes a line per phase change, at most one a second within a phase, and always the last', () => {
    const lines: ProgressLine[] = [];
    const reporter = jsonLines((line) => lines.push(line));
    reporter.update({ phase: 'hash', bytes: 0, total: 100 });
    reporter.update({ phase: 'hash', bytes: 50, total: 100 });
    reporter.update({ phase: 'upload', bytes: 0, total: 100 });
    reporter.update({ phase: 'upload', bytes: 40, total: 100 });
    reporter.update({ phase: 'upload', bytes: 100, total: 100 });
    expect(lines.map((line) => [line.phase, line.bytes])).toEqual([['hash', 0], ['upload', 0], ['upload', 100]]);
    expect(lines.at(-1)).toMatchObject({ event: 'progress', total: 100, eta: 0 });
  });
});
