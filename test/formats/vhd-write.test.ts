/**
 * The VHD writer, judged by qemu-img 7.2: every fixture in both subformats, the byte layout against qemu-img's own
 * force_size=on output, odd sizes, the 2040 GiB maximum, streaming, and every field we write read back by both.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, createWriteStream, existsSync, ftruncateSync, mkdtempSync, openSync } from 'node:fs';
import { readFileSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { convertToFile, convertToStream } from '../../src/convert/index.js';
import { BITMAP_SIZE, BLOCK_SIZE, dynamicLayout } from '../../src/formats/vhd/layout.js';
import { BAT_UNUSED, FOOTER, SPEC_MAX_SIZE } from '../../src/formats/vhd/structs.js';
import { vhdWriter } from '../../src/formats/vhd/write.js';
import { dataBlocks } from '../../src/image/blocks.js';
import type { DiskImage } from '../../src/image/types.js';
import { Limits } from '../../src/limits.js';
import { openImage } from '../../src/open.js';
import { ForwardSource } from '../../src/source/forward.js';
import { expectDiskError, fixture, guestHash, manifest, qemuRawHash } from '../helpers.js';
import { expectFaithfulConversion, expectQemuCheckClean, expectQemuIdentical, qemuVirtualSize } from '../writer-oracle.js';
import { readableFixtures } from '../writer-oracle.js';

const dir = mkdtempSync(join(tmpdir(), 'diskport-vhd-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SUBFORMATS = ['dynamic', 'fixed'] as const;
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const FOOTER_SIZE = FOOTER.size;
const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

/** A qcow2 of `size` bytes made by qemu-img, with `writes` ([offset, length, byte]) made by qemu-io. */
function qcow2With(name: string, size: number | string, writes: [number, number, number][] = []): string {
  const path = join(dir, name);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(size)]);
  const commands = writes.flatMap(([offset, length, byte]) => ['-c', `write -P ${byte} ${offset} ${length}`]);
  if (commands.length > 0) execFileSync('qemu-io', ['-f', 'qcow2', ...commands, path], { stdio: 'ignore' });
  return path;
}

/** A sparse RAW file of `size` bytes (any size, not just whole sectors) with `writes` ([offset, length, byte]). */
function rawWith(name: string, size: number, writes: [number, number, number][] = []): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const [offset, length, byte] of writes) writeSync(fd, Buffer.alloc(length, byte), 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return path;
}

async function withImage<T>(input: string | Promise<DiskImage>, use: (image: DiskImage) => Promise<T>): Promise<T> {
  const image = await (typeof input === 'string' ? openImage(input) : input);
  try {
    return await use(image);
  } finally {
    await image.close();
  }
}

function convertPath(source: string, output: string, subformat?: string): Promise<unknown> {
  return withImage(source, (image) => convertToFile(image, output, { to: 'vhd', subformat }));
}

/** convertToStream into a file through a write stream, as a pipe would take it. */
async function streamTo(image: DiskImage, path: string, subformat: string): Promise<void> {
  const out = createWriteStream(path);
  await convertToStream(image, out, { to: 'vhd', subformat });
  out.end();
  await finished(out);
}

/** A RAW or VHD read through a pipe: a forward-only source, no size known up front. */
function openPiped(path: string, format?: string): Promise<DiskImage> {
  const source = new ForwardSource('pipe', createReadStream(path, { highWaterMark: 256 * KiB }));
  return openImage(source, format === undefined ? {} : { format });
}

/** The footer fields that differ from one write to the next: when it was made, its unique id, and so its sum. */
const IDENTITY_FIELDS = [
  [FOOTER.offsetOf('timeStamp'), 4],
  [FOOTER.offsetOf('checksum'), 4],
  [FOOTER.offsetOf('uniqueId'), 16],
] as const;

/** The VHD's bytes with the identity fields of its footers (the copy at 0 of a dynamic disk, the last sector) zeroed. */
function withoutIdentity(path: string): Buffer {
  const bytes = readFileSync(path);
  const tail = bytes.length - FOOTER_SIZE;
  const footers = bytes.readUInt32BE(tail + FOOTER.offsetOf('diskType')) === 3 ? [0, tail] : [tail];
  for (const at of footers) for (const [field, length] of IDENTITY_FIELDS) bytes.fill(0, at + field, at + field + length);
  return bytes;
}

function expectSameApartFromIdentity(a: string, b: string): void {
  expect(statSync(a).size).toBe(statSync(b).size);
  expect(withoutIdentity(a).equals(withoutIdentity(b)), `${a} and ${b} differ`).toBe(true);
}

/** Numbers of the BLOCK_SIZE blocks of an image that hold a non-zero byte. */
function nonZeroBlocks(path: string): Promise<number[]> {
  return withImage(path, async (image) => {
    const blocks: number[] = [];
    for await (const block of dataBlocks(image, BLOCK_SIZE)) blocks.push(block.index);
    return blocks;
  });
}

/** The size of a dynamic VHD we write of a disk of `diskSize` bytes with `blocks` blocks of data. */
function dynamicFileSize(diskSize: number, blocks: number): number {
  return dynamicLayout(diskSize).firstBlockOffset + blocks * (BITMAP_SIZE + BLOCK_SIZE) + FOOTER_SIZE;
}

function qemuJson(args: string[]): unknown {
  return JSON.parse(execFileSync('qemu-img', [...args, '--output=json'], { encoding: 'utf8' }));
}

/** [start, length] of the runs `qemu-img map` says hold data in a VHD. */
function qemuDataRuns(path: string): [number, number][] {
  const map = qemuJson(['map', '-f', 'vpc', path]) as { start: number; length: number; data: boolean }[];
  return map.filter((run) => run.data).map((run) => [run.start, run.length]);
}

/** The one's complement of the byte sum, the checksum field at `at` counted as zero (the spec's rule, restated). */
function onesComplementSum(bytes: Uint8Array, at: number): number {
  let sum = 0;
  bytes.forEach((byte, i) => (sum += i >= at && i < at + 4 ? 0 : byte));
  return ~sum >>> 0;
}

describe('every readable fixture converts faithfully', () => {
  for (const entry of readableFixtures(manifest)) {
    for (const subformat of SUBFORMATS) {
      it(`${entry.file} -> vhd ${subformat}`, async () => {
        await expectFaithfulConversion(entry, join(dir, `${entry.file}.${subformat}.vhd`), { to: 'vhd', subformat });
      });
    }
  }

  it('dynamic is the default subformat', async () => {
    const output = join(dir, 'default.vhd');
    await convertPath(fixture('odd.raw'), output);
    await withImage(output, async (image) => expect(image.subformat).toBe('dynamic'));
  });

  it('an unknown subformat asked of the writer itself is a USAGE error', async () => {
    await withImage(fixture('odd.raw'), async (image) => {
      const write = Promise.resolve().then(() => vhdWriter.write(image, { subformat: 'sparse', workers: 1 }));
      await expectDiskError(write, 'USAGE');
    });
  });
});

describe('the layout is the one qemu-img convert -o force_size=on writes', () => {
  // -m 1: one request at a time, so qemu allocates blocks in guest order as we do (8 in flight do not promise it).
  for (const file of ['mixed.qcow2', 'odd.vmdk', 'gpt-uefi.vhdx', 'small-chs-dynamic.vhd', 'empty.qcow2']) {
    for (const subformat of SUBFORMATS) {
      it(`${file} -> ${subformat}: byte for byte, apart from the time stamp, unique id and checksum`, async () => {
        const ours = join(dir, `ours-${file}.${subformat}.vhd`);
        const qemus = join(dir, `qemu-${file}.${subformat}.vhd`);
        await convertPath(fixture(file), ours, subformat);
        const qemuFormat = manifest.find((entry) => entry.file === file)!.qemuFormat;
        const options = `subformat=${subformat},force_size=on`;
        execFileSync('qemu-img', ['convert', '-m', '1', '-f', qemuFormat, '-O', 'vpc', '-o', options, fixture(file), qemus]);
        expectSameApartFromIdentity(ours, qemus);
      });
    }
  }
});

describe('sizes', () => {
  // [offset, length, byte] runs of data; the last sector of each disk holds some, so a lost tail would show.
  const cases: { name: string; size: number; format: 'raw' | 'qcow2'; writes: [number, number, number][] }[] = [
    { name: 'one byte past a block', size: 2 * MiB + 1, format: 'raw', writes: [[2 * MiB, 1, 0x11]] },
    { name: '512 x 4099', size: 512 * 4099, format: 'qcow2', writes: [[512 * 4098, 512, 0x22]] },
    { name: 'not a multiple of 512', size: 5_000_001, format: 'raw', writes: [[0, 4096, 0x33], [4_999_000, 1001, 0x44]] },
    { name: 'smaller than one block', size: 100 * KiB, format: 'raw', writes: [[50 * KiB, KiB, 0x55], [100 * KiB - 1, 1, 0x56]] },
    { name: 'a single byte', size: 1, format: 'raw', writes: [[0, 1, 0x66]] },
  ];
  for (const { name, size, format, writes } of cases) {
    for (const subformat of SUBFORMATS) {
      it(`${name} (${format}, ${size} bytes) -> ${subformat}: rounded up to whole sectors, nothing lost`, async () => {
        const source = (format === 'raw' ? rawWith : qcow2With)(`size-${size}.${format}`, size, writes);
        const output = join(dir, `size-${size}.${subformat}.vhd`);
        await convertPath(source, output, subformat);
        const diskSize = Math.ceil(size / 512) * 512;
        const blocks = (await nonZeroBlocks(source)).length;
        expect(statSync(output).size).toBe(subformat === 'fixed' ? diskSize + FOOTER_SIZE : dynamicFileSize(diskSize, blocks));
        expectQemuCheckClean(output, 'vhd');
        expectQemuIdentical(source, format, output, 'vhd');
        expect(qemuVirtualSize(output, 'vhd')).toBe(diskSize);
        await withImage(output, async (image) => {
          expect(image.virtualSize).toBe(diskSize);
          expect(await guestHash(image)).toBe(qemuRawHash(output, 'vpc'));
        });
      });
    }
  }

  it('an empty disk: dynamic holds it, fixed refuses (a lone footer is not a VHD qemu can open)', async () => {
    const source = qcow2With('zero.qcow2', 0);
    const output = join(dir, 'zero.dynamic.vhd');
    await convertPath(source, output, 'dynamic');
    expect(qemuVirtualSize(output, 'vhd')).toBe(0);
    await withImage(output, async (image) => expect(image.virtualSize).toBe(0));
    await expectDiskError(convertPath(source, join(dir, 'zero.fixed.vhd'), 'fixed'), 'UNSUPPORTED_FEATURE');
    expect(existsSync(join(dir, 'zero.fixed.vhd'))).toBe(false);
  });

  describe('the 2040 GiB maximum', () => {
    const data: [number, number, number][] = [[1024 * GiB, 64 * KiB, 0x5a], [SPEC_MAX_SIZE - 64 * KiB, 64 * KiB, 0xa5]];
    const largest = () => qcow2With('max.qcow2', SPEC_MAX_SIZE, data);

    async function expectData(image: DiskImage): Promise<void> {
      for (const [offset, length, byte] of data) {
        expect(Buffer.from(await image.read(offset, length)).equals(Buffer.alloc(length, byte))).toBe(true);
      }
    }

    it('the BAT of the largest disk fits the table limit', () => {
      expect(dynamicLayout(SPEC_MAX_SIZE).tableBytes).toBeLessThanOrEqual(Limits.maxTableBytes);
    });

    it('a 2040 GiB sparse disk -> dynamic: two blocks, a few MiB, the same data', async () => {
      const output = join(dir, 'max.dynamic.vhd');
      await convertPath(largest(), output, 'dynamic');
      expect(statSync(output).size).toBe(dynamicFileSize(SPEC_MAX_SIZE, 2));
      // qemu-img compare walks a 2040 GiB dynamic VHD for over a minute; its map and reads say as much quickly.
      expect(qemuDataRuns(output)).toEqual([[1024 * GiB, BLOCK_SIZE], [SPEC_MAX_SIZE - BLOCK_SIZE, BLOCK_SIZE]]);
      const reads = [...data, [1000 * GiB, 64 * KiB, 0]].flatMap(([at, length, byte]) => ['-c', `read -P ${byte} ${at} ${length}`]);
      execFileSync('qemu-io', ['-f', 'vpc', ...reads, output], { stdio: 'ignore' }); // exits 1 on a pattern mismatch
      expect(qemuVirtualSize(output, 'vhd')).toBe(SPEC_MAX_SIZE);
      await withImage(output, async (image) => {
        expect(image.virtualSize).toBe(SPEC_MAX_SIZE);
        expect(image.details.allocatedBlocks).toBe(2);
        await expectData(image);
      });
    });

    it('a 2040 GiB sparse disk -> fixed: a sparse file, identical', async () => {
      const source = largest();
      const output = join(dir, 'max.fixed.vhd');
      await convertPath(source, output, 'fixed');
      const stat = statSync(output);
      expect(stat.size).toBe(SPEC_MAX_SIZE + FOOTER_SIZE);
      expect(stat.blocks * 512).toBeLessThan(16 * MiB); // holes, not 2 TiB of zeros
      expectQemuIdentical(source, 'qcow2', output, 'vhd');
      await withImage(output, async (image) => {
        expect(image.virtualSize).toBe(SPEC_MAX_SIZE);
        await expectData(image);
      });
    });

    const tooLarge = [
      { name: '2 TiB (qcow2)', make: () => qcow2With('2t.qcow2', '2T', [[1024 * GiB, 4096, 1]]) },
      // Rounding up to whole sectors is what takes this one past the maximum.
      { name: '2040 GiB + 1 byte (RAW)', make: () => rawWith('max-plus-one.raw', SPEC_MAX_SIZE + 1) },
    ];
    for (const { name, make } of tooLarge) {
      for (const subformat of SUBFORMATS) {
        it(`${name} -> ${subformat}: UNSUPPORTED_FEATURE naming both sizes, no output left`, async () => {
          const output = join(dir, `too-large.${subformat}.vhd`);
          await withImage(make(), async (image) => {
            const error = await expectDiskError(convertToFile(image, output, { to: 'vhd', subformat }), 'UNSUPPORTED_FEATURE');
            expect(error.message).toContain(`${image.virtualSize} bytes`);
            expect(error.message).toContain(`${SPEC_MAX_SIZE} bytes`);
          });
          expect(readdirSync(dir).filter((file) => file.startsWith(`too-large.${subformat}`))).toEqual([]);
        });
      }
    }
  });
});

describe('streaming', () => {
  it('fixed through a stream is convertToFile byte for byte, apart from the footer identity', async () => {
    const streamed = join(dir, 'stream.fixed.vhd');
    const filed = join(dir, 'file.fixed.vhd');
    await withImage(fixture('mixed.vmdk'), (image) => streamTo(image, streamed, 'fixed'));
    await convertPath(fixture('mixed.vmdk'), filed, 'fixed');
    expectSameApartFromIdentity(streamed, filed);
    expectQemuIdentical(fixture('mixed.vmdk'), 'vmdk', streamed, 'vhd');
  });

  it('a RAW pipe of unknown length, not a multiple of 512, streams to fixed', async () => {
    const source = rawWith('pipe.raw', 3 * MiB + 100, [[MiB, 4096, 0x77], [3 * MiB + 99, 1, 0x78]]);
    const output = join(dir, 'pipe.fixed.vhd');
    await withImage(openPiped(source, 'raw'), async (image) => {
      expect(image.virtualSize).toBeUndefined();
      await streamTo(image, output, 'fixed');
    });
    expect(statSync(output).size).toBe(3 * MiB + 512 + FOOTER_SIZE);
    expectQemuIdentical(source, 'raw', output, 'vhd');
    expect(qemuVirtualSize(output, 'vhd')).toBe(3 * MiB + 512);
  });

  it('a dynamic VHD read from a pipe streams to fixed (pipe to pipe)', async () => {
    const output = join(dir, 'pipe-dynamic.fixed.vhd');
    await withImage(openPiped(fixture('mixed-dynamic.vhd')), (image) => streamTo(image, output, 'fixed'));
    expectQemuIdentical(fixture('mixed-dynamic.vhd'), 'vpc', output, 'vhd');
  });

  it('dynamic refuses a stream (NOT_STREAMABLE) and a source of unknown size (SIZE_UNKNOWN)', async () => {
    await withImage(fixture('odd.raw'), async (image) => {
      const out = createWriteStream(join(dir, 'never.vhd'));
      await expectDiskError(Promise.resolve().then(() => convertToStream(image, out, { to: 'vhd' })), 'NOT_STREAMABLE');
      out.destroy();
    });
    await withImage(openPiped(fixture('odd.raw'), 'raw'), async (image) => {
      await expectDiskError(convertToFile(image, join(dir, 'unknown.vhd'), { to: 'vhd', subformat: 'dynamic' }), 'SIZE_UNKNOWN');
    });
  });
});

describe('every field we write, as qemu-img and our reader see it', () => {
  // gpt-uefi.raw: 64 MiB with runs of zeros, so the BAT has absent blocks as well as present ones.
  const source = fixture('gpt-uefi.raw');
  const sourceSize = statSync(source).size;

  for (const subformat of SUBFORMATS) {
    it(`${subformat}: footer fields, both copies, sizes`, async () => {
      const output = join(dir, `fields.${subformat}.vhd`);
      const before = Math.floor((Date.now() - VHD_EPOCH_MS) / 1000);
      await convertPath(source, output, subformat);
      const after = Math.floor((Date.now() - VHD_EPOCH_MS) / 1000);
      const info = qemuJson(['info', '-f', 'vpc', output]) as Record<string, unknown>;
      await withImage(output, async (image) => {
        expect(image).toMatchObject({ format: 'vhd', subformat, virtualSize: info['virtual-size'] });
        expect(image.virtualSize).toBe(sourceSize);
        const { details } = image;
        expect(details).toMatchObject({
          creatorApplication: 'qem2',
          creatorHostOs: 'Wi2k',
          creatorVersion: '5.3',
          geometry: { cylinders: 65535, heads: 16, sectorsPerTrack: 255 },
          currentSize: sourceSize,
          sizeSource: 'currentSize',
          footer: 'tail',
        });
        expect(details).not.toHaveProperty('footerMismatch');
        expect(details).not.toHaveProperty('headCopy');
        expect(details.uniqueId).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
        const stamp = (Date.parse(details.timeStamp as string) - VHD_EPOCH_MS) / 1000;
        expect(stamp).toBeGreaterThanOrEqual(before);
        expect(stamp).toBeLessThanOrEqual(after);
        if (subformat === 'dynamic') expect([details.blockSize, info['cluster-size']]).toEqual([BLOCK_SIZE, BLOCK_SIZE]);
        else expect(info).not.toHaveProperty('cluster-size');
      });
      // Straight from the bytes, by the spec's offsets rather than our struct tables.
      const bytes = readFileSync(output);
      const tail = bytes.subarray(bytes.length - FOOTER_SIZE);
      expect(tail.subarray(0, 8).toString('latin1')).toBe('conectix');
      expect(tail.readUInt32BE(0x08)).toBe(2); // features: the reserved bit
      expect(tail.readUInt32BE(0x0c)).toBe(0x00010000);
      expect(tail.readBigUInt64BE(0x10)).toBe(subformat === 'fixed' ? 0xffffffffffffffffn : 512n);
      expect(tail.readBigUInt64BE(0x28)).toBe(BigInt(sourceSize)); // originalSize
      expect(tail.readUInt32BE(0x3c)).toBe(subformat === 'fixed' ? 2 : 3);
      expect(tail.readUInt32BE(0x40)).toBe(onesComplementSum(tail, 0x40));
      expect(tail.subarray(0x55).every((byte) => byte === 0)).toBe(true); // savedState and reserved
      if (subformat === 'dynamic') expect(bytes.subarray(0, FOOTER_SIZE).equals(tail)).toBe(true); // identical copies
    });
  }

  it('dynamic: header, BAT entries and bitmaps, and the allocation qemu-img map sees', async () => {
    const output = join(dir, 'fields.bat.vhd');
    await convertPath(source, output, 'dynamic');
    const bytes = readFileSync(output);
    const header = bytes.subarray(512, 1536);
    const entries = Math.ceil(sourceSize / BLOCK_SIZE);
    expect(header.subarray(0, 8).toString('latin1')).toBe('cxsparse');
    expect(header.readBigUInt64BE(0x08)).toBe(0xffffffffffffffffn);
    expect(header.readBigUInt64BE(0x10)).toBe(1536n);
    expect(header.readUInt32BE(0x18)).toBe(0x00010000);
    expect(header.readUInt32BE(0x1c)).toBe(entries);
    expect(header.readUInt32BE(0x20)).toBe(BLOCK_SIZE);
    expect(header.readUInt32BE(0x24)).toBe(onesComplementSum(header, 0x24));

    const present = await nonZeroBlocks(source);
    expect(present.length).toBeGreaterThan(0);
    expect(present.length).toBeLessThan(entries); // both kinds of entry are tested
    let next = dynamicLayout(sourceSize).firstBlockOffset;
    for (let block = 0; block < entries; block++) {
      const entry = bytes.readUInt32BE(1536 + block * 4);
      if (!present.includes(block)) {
        expect(entry).toBe(BAT_UNUSED);
        continue;
      }
      expect(entry * 512).toBe(next); // appended in guest order
      expect(bytes.subarray(next, next + BITMAP_SIZE).every((byte) => byte === 0xff)).toBe(true);
      next += BITMAP_SIZE + BLOCK_SIZE;
    }
    await withImage(output, async (image) => expect(image.details.allocatedBlocks).toBe(present.length));
    const mapped = qemuDataRuns(output).flatMap(([start, length]) =>
      Array.from({ length: length / BLOCK_SIZE }, (_, i) => start / BLOCK_SIZE + i),
    );
    expect(mapped).toEqual(present);
  });
});
