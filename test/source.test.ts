import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Limits } from '../src/limits.js';
import { checkRange } from '../src/source/check.js';
import { FileSource } from '../src/source/file.js';
import { ForwardSource } from '../src/source/forward.js';
import { MemorySource } from '../src/source/memory.js';
import { ReadWindows } from '../src/source/windows.js';
import { defineStruct, formatGuid, parseGuid, toSafeNumber } from '../src/struct/index.js';
import { expectDiskError } from './helpers.js';

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

function counting(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i % 251);
}

describe('ForwardSource', () => {
  const data = counting(3 * Limits.forwardHeadKeep);

  it('reads forward, skipping ahead, across chunk boundaries', async () => {
    const source = new ForwardSource('pipe', chunksOf(data, 1000));
    expect(await source.read(10, 5)).toEqual(data.subarray(10, 15));
    expect(await source.read(2_000_000, 3000)).toEqual(data.subarray(2_000_000, 2_003_000));
    expect(source.seekable).toBe(false);
  });

  it('re-reads the kept head but throws BACKWARD_READ further back', async () => {
    const source = new ForwardSource('pipe', chunksOf(data, 4096));
    await source.read(Limits.forwardHeadKeep + 100, 10);
    expect(await source.read(0, 512)).toEqual(data.subarray(0, 512));
    await expectDiskError(source.read(Limits.forwardHeadKeep + 10, 10), 'BACKWARD_READ');
  });

  it('serves a read that starts in the head and ends beyond it', async () => {
    const source = new ForwardSource('pipe', chunksOf(data, 4096));
    await source.read(0, 100);
    expect(await source.read(50, 8000)).toEqual(data.subarray(50, 8050));
  });

  it('throws TRUNCATED past the end and reports the length when drained', async () => {
    const source = new ForwardSource('pipe', chunksOf(data, 65536));
    await expectDiskError(source.read(data.length - 10, 20), 'TRUNCATED');
    const again = new ForwardSource('pipe', chunksOf(data, 65536));
    await again.read(0, 10);
    expect(await again.drain()).toBe(data.length);
  });

  it('readSome returns what is left at the end, then nothing', async () => {
    const source = new ForwardSource('pipe', chunksOf(data, 7777));
    expect((await source.readSome(data.length - 100, 4096)).length).toBe(100);
    expect((await source.readSome(data.length, 4096)).length).toBe(0);
  });

  it('refuses reads over the named maximum before reading', async () => {
    const source = new ForwardSource('pipe', chunksOf(data, 4096));
    await expectDiskError(source.read(0, Limits.maxRead + 1), 'LIMIT_EXCEEDED');
    expect(source.bytesRead).toBe(0);
  });
});

describe('FileSource', () => {
  const dir = mkdtempSync(join(tmpdir(), 'diskport-source-'));
  const path = join(dir, 'disk.img');
  writeFileSync(path, counting(10_000));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'extent.img'), counting(10));

  it('reads any range in any order and counts bytes read', async () => {
    const source = await FileSource.open(path);
    expect(Buffer.from(await source.read(9000, 10))).toEqual(Buffer.from(counting(10_000).subarray(9000, 9010)));
    expect(Buffer.from(await source.read(0, 10))).toEqual(Buffer.from(counting(10)));
    expect(source.bytesRead).toBe(20);
    await expectDiskError(source.read(9995, 10), 'TRUNCATED');
    await source.close();
  });

  it('opens siblings inside its folder only', async () => {
    const source = await FileSource.open(path);
    const extent = await source.sibling('sub/extent.img');
    expect(extent.size).toBe(10);
    await extent.close();
    await expectDiskError(source.sibling('../elsewhere.img'), 'PATH_OUTSIDE_FOLDER');
    await expectDiskError(source.sibling('/etc/passwd'), 'PATH_OUTSIDE_FOLDER');
    await expectDiskError(source.sibling('missing.img'), 'EXTENT_MISSING');
    await source.close();
  });

  it('follows outside paths only when allowed', async () => {
    const source = await FileSource.open(join(dir, 'sub', 'extent.img'), { allowOutsideFolder: true });
    const outside = await source.sibling('../disk.img');
    expect(outside.size).toBe(10_000);
    await outside.close();
    await source.close();
  });

  it('names a missing file and a directory', async () => {
    await expectDiskError(FileSource.open(join(dir, 'nope')), 'FILE_NOT_FOUND');
    await expectDiskError(FileSource.open(dir), 'IO_ERROR');
  });
});

describe('checkRange', () => {
  const source = new MemorySource('mem', new Uint8Array(1000));
  const context = { format: 'test', field: 'header.table_offset' };

  it('accepts a range inside the source', () => {
    expect(() => checkRange(source, 100, 900, context)).not.toThrow();
  });

  it('rejects a range past the end, over the maximum, or not an integer', async () => {
    const past = await expectDiskError(Promise.resolve().then(() => checkRange(source, 500, 501, context)), 'OFFSET_OUT_OF_RANGE');
    expect(past.field).toBe('header.table_offset');
    expect(past.offset).toBe(500);
    await expectDiskError(Promise.resolve().then(() => checkRange(source, 0, 600, { ...context, max: 512 })), 'LIMIT_EXCEEDED');
    await expectDiskError(Promise.resolve().then(() => checkRange(source, -1, 1, context)), 'BAD_HEADER');
    await expectDiskError(Promise.resolve().then(() => checkRange(source, 2 ** 60, 1, context)), 'BAD_HEADER');
  });
});

describe('struct field tables', () => {
  const sample = defineStruct('sample', 48, {
    magic: [0, 'ascii', 4],
    version: [4, 'u32be'],
    flags: [8, 'u16le'],
    size: [16, 'u64le'],
    id: [24, 'guid'],
    tag: [40, 'u8'],
  });

  it('decodes what it encodes', () => {
    const values = { magic: 'TEST', version: 3, flags: 0x1234, size: 2n ** 41n, id: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', tag: 7 };
    expect(sample.decode(sample.encode(values))).toEqual(values);
    expect(sample.offsetOf('size')).toBe(16);
  });

  it('stores GUIDs mixed-endian as on disk', () => {
    const bytes = parseGuid('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(Buffer.from(bytes).toString('hex')).toBe('28732ac11ff8d211ba4b00a0c93ec93b');
    expect(formatGuid(bytes)).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
  });

  it('refuses short input and 64-bit values past a maximum', async () => {
    await expectDiskError(Promise.resolve().then(() => sample.decode(new Uint8Array(10))), 'TRUNCATED');
    const what = { field: 'size', format: 'test' };
    expect(toSafeNumber(1024n, 4096, what)).toBe(1024);
    await expectDiskError(Promise.resolve().then(() => toSafeNumber(2n ** 64n - 1n, 4096, what)), 'LIMIT_EXCEEDED');
  });
});

describe('ReadWindows', () => {
  const bytes = counting(100_000);

  it('serves nearby small reads from one shared read, with the right bytes', async () => {
    const source = new MemorySource('file', bytes);
    const windows = new ReadWindows(source, 4096);
    const reads = await Promise.all([windows.read(1000, 100), windows.read(1100, 500), windows.read(4000, 1096)]);
    expect(Buffer.from(reads[1]!)).toEqual(Buffer.from(bytes.subarray(1100, 1600)));
    expect(Buffer.from(reads[2]!)).toEqual(Buffer.from(bytes.subarray(4000, 5096)));
    expect(source.bytesRead).toBe(4096); // all three lie in the window [1000, 5096)
    expect(Buffer.from(await windows.read(6000, 100))).toEqual(Buffer.from(bytes.subarray(6000, 6100)));
    expect(source.bytesRead).toBe(8192);
  });

  it('clamps windows to the file end and reports reads past it as TRUNCATED', async () => {
    const windows = new ReadWindows(new MemorySource('file', bytes), 4096);
    expect((await windows.read(99_900, 100)).length).toBe(100);
    await expectDiskError(windows.read(99_950, 100), 'TRUNCATED');
  });
});
