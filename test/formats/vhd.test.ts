/**
 * VHD-specific tests: footer/header/BAT damage codes, qemu's virtual size rule, footer recovery, sector bitmaps,
 * differencing disks (refused without a parent, read through one with it), pipes, a 2040 GiB sparse disk, mutants.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskError } from '../../src/errors.js';
import { formatByName } from '../../src/formats/index.js';
import { vhd } from '../../src/formats/vhd/index.js';
import type { DiskImage, Extent } from '../../src/image/types.js';

import { openImage } from '../../src/open.js';
import { ForwardSource } from '../../src/source/forward.js';
import { MemorySource } from '../../src/source/memory.js';
import { expectDiskError, fixture, inspectDisk, guestHash, mutate, seeded } from '../helpers.js';
import { runMutations } from '../mutation.js';

const tmp = mkdtempSync(join(tmpdir(), 'diskport-vhd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const HEADER_AT = 512; // qemu puts the dynamic header right after the footer copy

// --- byte patching helpers -------------------------------------------------------------------------------

/** Recomputes a VHD checksum (one's complement of the byte sum, checksum field as zero) in place. */
function fixChecksum(bytes: Uint8Array, start: number, length: number, checksumAt: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  view.setUint32(start + checksumAt, 0);
  let sum = 0;
  for (let i = start; i < start + length; i++) sum += bytes[i]!;
  view.setUint32(start + checksumAt, ~sum >>> 0);
}

/** Applies `edit` to the footer copy at 0 (when present) and/or the footer at the end, re-checksumming each. */
function patchFooters(
  bytes: Uint8Array,
  edit: (view: DataView, at: number) => void,
  which: 'both' | 'head' | 'tail' = 'both',
): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer, out.byteOffset);
  const places: number[] = [];
  if (which !== 'tail' && Buffer.from(out.subarray(0, 8)).toString() === 'conectix') places.push(0);
  if (which !== 'head') places.push(out.length - 512);
  for (const at of places) {
    edit(view, at);
    fixChecksum(out, at, 512, 0x40);
  }
  return out;
}

function patchHeader(bytes: Uint8Array, edit: (view: DataView, at: number) => void, fix = true): Uint8Array {
  const out = bytes.slice();
  edit(new DataView(out.buffer, out.byteOffset), HEADER_AT);
  if (fix) fixChecksum(out, HEADER_AT, 1024, 0x24);
  return out;
}

const setCreator = (creator: string) => (view: DataView, at: number) =>
  Buffer.from(creator, 'latin1').forEach((byte, i) => view.setUint8(at + 0x1c + i, byte));
const setGeometry = (c: number, h: number, s: number) => (view: DataView, at: number) => {
  view.setUint16(at + 0x38, c);
  view.setUint8(at + 0x3a, h);
  view.setUint8(at + 0x3b, s);
};

function tableOffsetOf(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(HEADER_AT + 0x10));
}

function batOf(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const entries = view.getUint32(HEADER_AT + 0x1c);
  const table = tableOffsetOf(bytes);
  return Array.from({ length: entries }, (_, i) => view.getUint32(table + 4 * i));
}

/** XORs one byte (a one-bit flip breaks a checksum without touching anything else). */
function flip(bytes: Uint8Array, at: number, mask: number): void {
  bytes[at] = bytes[at]! ^ mask;
}

const memory = (bytes: Uint8Array, name = 'damaged.vhd') => new MemorySource(name, bytes);
const read = (name: string) => new Uint8Array(readFileSync(fixture(name)));

function qemuInfoSize(path: string): number {
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', 'vpc', path], { encoding: 'utf8' }));
  return info['virtual-size'];
}

function pipe(path: string): ForwardSource {
  return new ForwardSource('pipe', createReadStream(path, { highWaterMark: 256 * 1024 }));
}

async function allBytes(image: DiskImage): Promise<Uint8Array> {
  const out = new Uint8Array(image.virtualSize!);
  for await (const extent of image.extents()) if (extent.data !== undefined) out.set(extent.data, extent.offset);
  return out;
}

// --- detection and footers ---------------------------------------------------------------------------------

describe('detection and the footer', () => {
  it('detects the footer copy at 0, the footer at the end, and the legacy 511-byte footer', async () => {
    const dynamic = read('odd-dynamic.vhd');
    const fixed = read('odd-fixed.vhd');
    const probe = (bytes: Uint8Array) => ({ head: bytes.subarray(0, 65536), tail: bytes.subarray(bytes.length - 512), size: bytes.length, name: 'x' });
    expect(vhd.detect(probe(dynamic))).toBe(true);
    expect(vhd.detect(probe(fixed))).toBe(true);
    expect(vhd.detect(probe(fixed.subarray(0, fixed.length - 1)))).toBe(true);
    expect(vhd.detect(probe(read('odd.raw')))).toBe(false);
    expect(formatByName('vhd')).toBe(vhd);
  });

  it('reads a fixed disk whose footer is the legacy 511 bytes', async () => {
    const fixed = read('odd-fixed.vhd');
    const expected = await guestHash(await openImage(memory(fixed)));
    // The footer's last byte is reserved zero: dropping it leaves a valid 511-byte footer.
    const legacy = await openImage(memory(fixed.subarray(0, fixed.length - 1)));
    expect(legacy.format).toBe('vhd');
    expect(legacy.details.footer).toBe('tail-511');
    expect(legacy.virtualSize).toBe(5244416);
    expect(await guestHash(legacy)).toBe(expected);
  });

  it('refuses a bad footer checksum (fixed: the only footer; dynamic: both copies)', async () => {
    const fixed = read('odd-fixed.vhd');
    const badFixed = fixed.slice();
    flip(badFixed, fixed.length - 512 + 0x30, 1);
    const error = await expectDiskError(openImage(memory(badFixed)), 'BAD_CHECKSUM');
    expect(error.field).toBe('footer.checksum');
    expect(error.offset).toBe(fixed.length - 512);
    expect(error.format).toBe('vhd');

    const dynamic = read('odd-dynamic.vhd');
    const badBoth = dynamic.slice();
    flip(badBoth, 0x30, 1);
    flip(badBoth, dynamic.length - 512 + 0x30, 1);
    await expectDiskError(openImage(memory(badBoth)), 'BAD_CHECKSUM');
  });

  it('recovers from one damaged footer copy and says so', async () => {
    const dynamic = read('odd-dynamic.vhd');
    const expected = await guestHash(await openImage(memory(dynamic)));

    const badTail = dynamic.slice();
    flip(badTail, dynamic.length - 512 + 0x31, 0x40);
    const fromHead = await openImage(memory(badTail));
    expect(fromHead.details.footer).toBe('head');
    expect(String(fromHead.details.tailFooter)).toMatch(/BAD_CHECKSUM/);
    expect(await guestHash(fromHead)).toBe(expected);

    const badHead = dynamic.slice();
    flip(badHead, 0x31, 0x40);
    const fromTail = await openImage(memory(badHead));
    expect(fromTail.details.footer).toBe('tail');
    expect(String(fromTail.details.headCopy)).toMatch(/BAD_CHECKSUM/);
    expect(await guestHash(fromTail)).toBe(expected);
  });

  it('uses the footer at the end when the copies disagree, and reports the disagreement', async () => {
    const dynamic = read('empty-dynamic.vhd');
    const patched = patchFooters(dynamic, (view, at) => view.setBigUint64(at + 0x30, 2n * BigInt(MiB)), 'tail');
    const image = await openImage(memory(patched));
    expect(image.virtualSize).toBe(2 * MiB);
    expect(String(image.details.footerMismatch)).toMatch(/currentSize 3145728 vs 2097152/);
    const same = await openImage(memory(dynamic));
    expect(same.details.footerMismatch).toBeUndefined();
  });

  it('refuses an unknown file format version and disk type', async () => {
    const dynamic = read('empty-dynamic.vhd');
    const version = patchFooters(dynamic, (view, at) => view.setUint32(at + 0x0c, 0x00020000));
    expect((await expectDiskError(openImage(memory(version)), 'UNSUPPORTED_VERSION')).field).toBe('footer.fileFormatVersion');
    const type = patchFooters(dynamic, (view, at) => view.setUint32(at + 0x3c, 5));
    expect((await expectDiskError(openImage(memory(type)), 'BAD_HEADER')).field).toBe('footer.diskType');
  });

  it('refuses a currentSize over Limits.maxVirtualSize', async () => {
    const huge = patchFooters(read('empty-dynamic.vhd'), (view, at) => view.setBigUint64(at + 0x30, 1n << 60n));
    expect((await expectDiskError(openImage(memory(huge)), 'LIMIT_EXCEEDED')).field).toBe('footer.currentSize');
  });

  it('refuses a file too short for a footer, and a fixed disk whose size runs into its footer', async () => {
    await expectDiskError(openImage(memory(read('empty-dynamic.vhd').subarray(0, 300))), 'TRUNCATED');
    const fixed = read('odd-fixed.vhd');
    // creator qemu: the size comes from CHS, here 200 x 16 x 63 sectors (103 MB) for 5 MB of data.
    const tooBig = patchFooters(fixed, (view, at) => {
      setCreator('qemu')(view, at);
      setGeometry(200, 16, 63)(view, at);
    });
    const error = await expectDiskError(openImage(memory(tooBig)), 'TRUNCATED');
    expect(error.field).toBe('footer.diskGeometry');
  });
});

// --- the virtual size rule against qemu-img ----------------------------------------------------------------

describe('virtual size follows qemu-img info -f vpc', () => {
  const base = read('empty-dynamic.vhd'); // 3 MiB, currentSize 3145728, creator qem2, geometry 65535/16/255
  const cases: { name: string; creator: string; geometry?: [number, number, number]; currentSize?: bigint; source: 'chs' | 'currentSize' }[] = [
    { name: 'qemu, small CHS', creator: 'qemu', geometry: [6, 16, 63], source: 'chs' },
    { name: 'vpc, small CHS', creator: 'vpc ', geometry: [5, 16, 63], source: 'chs' },
    { name: 'qem2, small CHS', creator: 'qem2', geometry: [6, 16, 63], source: 'currentSize' },
    { name: 'win, small CHS', creator: 'win ', geometry: [6, 16, 63], source: 'currentSize' },
    { name: 'tap\\0, small CHS', creator: 'tap\0', geometry: [6, 16, 63], source: 'currentSize' },
    { name: 'qemu, maximum CHS', creator: 'qemu', source: 'currentSize' },
    { name: 'qemu, maximum CHS product in another order', creator: 'qemu', geometry: [65535, 255, 16], source: 'currentSize' },
    { name: 'win, currentSize not a sector multiple', creator: 'win ', currentSize: 3145000n, source: 'currentSize' },
  ];
  it.each(cases)('$name', async ({ name, creator, geometry, currentSize, source }) => {
    const patched = patchFooters(base, (view, at) => {
      setCreator(creator)(view, at);
      if (geometry !== undefined) setGeometry(...geometry)(view, at);
      if (currentSize !== undefined) view.setBigUint64(at + 0x30, currentSize);
    });
    const path = join(tmp, `size-${name.replace(/\W+/g, '-')}.vhd`);
    writeFileSync(path, patched);
    const report = await inspectDisk(path);
    expect(report.details.sizeSource).toBe(source);
    expect(report.virtualSize).toBe(qemuInfoSize(path));
    if (geometry !== undefined) expect(report.details.chsSize).toBe(geometry[0] * geometry[1] * geometry[2] * 512);
  });

  it('small-chs-dynamic.vhd (creator qemu) is sized by CHS, force_size fixtures (qem2) by currentSize', async () => {
    const chs = await inspectDisk(fixture('small-chs-dynamic.vhd'));
    expect(chs.details).toMatchObject({ creatorApplication: 'qemu', sizeSource: 'chs', chsSize: 9469952, currentSize: 9469952 });
    expect(chs.details.geometry).toEqual({ cylinders: 272, heads: 4, sectorsPerTrack: 17 });
    const forced = await inspectDisk(fixture('odd-fixed.vhd'));
    expect(forced.details).toMatchObject({ creatorApplication: 'qem2', sizeSource: 'currentSize', currentSize: 5244416 });
    expect(forced.details.geometry).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
    expect(forced.subformat).toBe('fixed');
  });
});

// --- dynamic header and BAT --------------------------------------------------------------------------------

describe('dynamic header and BAT', () => {
  const dynamic = read('odd-dynamic.vhd'); // 3 blocks of 2 MiB, BAT at 0x600

  it('refuses a damaged cxsparse cookie with BAD_MAGIC', async () => {
    const bad = patchHeader(dynamic, (view, at) => view.setUint8(at + 2, 0x58));
    const error = await expectDiskError(openImage(memory(bad)), 'BAD_MAGIC');
    expect(error.field).toBe('dynamicHeader.cookie');
    expect(error.offset).toBe(HEADER_AT);
  });

  it('refuses a bad dynamic header checksum', async () => {
    const bad = patchHeader(dynamic, (view, at) => view.setUint32(at + 0x20, 0x00100000), false);
    expect((await expectDiskError(openImage(memory(bad)), 'BAD_CHECKSUM')).field).toBe('dynamicHeader.checksum');
  });

  it('refuses an unknown header version', async () => {
    const bad = patchHeader(dynamic, (view, at) => view.setUint32(at + 0x18, 0x00020000));
    await expectDiskError(openImage(memory(bad)), 'UNSUPPORTED_VERSION');
  });

  it('refuses a block size that is not a power of two, or over the bound', async () => {
    const odd = patchHeader(dynamic, (view, at) => view.setUint32(at + 0x20, 3 * MiB));
    expect((await expectDiskError(openImage(memory(odd)), 'BAD_HEADER')).field).toBe('dynamicHeader.blockSize');
    const tiny = patchHeader(dynamic, (view, at) => view.setUint32(at + 0x20, 256));
    await expectDiskError(openImage(memory(tiny)), 'BAD_HEADER');
    const huge = patchHeader(dynamic, (view, at) => view.setUint32(at + 0x20, 1024 * MiB));
    await expectDiskError(openImage(memory(huge)), 'LIMIT_EXCEEDED');
  });

  it('refuses a BAT past the end of the file', async () => {
    const bad = patchHeader(dynamic, (view, at) => view.setBigUint64(at + 0x10, BigInt(dynamic.length + 512)));
    expect((await expectDiskError(openImage(memory(bad)), 'OFFSET_OUT_OF_RANGE')).field).toBe('dynamicHeader.tableOffset');
    const far = patchHeader(dynamic, (view, at) => view.setBigUint64(at + 0x10, 0xffffffffffff0000n));
    await expectDiskError(openImage(memory(far)), 'OFFSET_OUT_OF_RANGE');
  });

  it('refuses maxTableEntries = 0xFFFFFFFF with LIMIT_EXCEEDED before reading the table', async () => {
    const bad = patchHeader(dynamic, (view, at) => view.setUint32(at + 0x1c, 0xffffffff));
    const source = memory(bad);
    const error = await expectDiskError(openImage(source), 'LIMIT_EXCEEDED');
    expect(error.field).toBe('dynamicHeader.maxTableEntries');
    // Detection's 64 KiB probe, the footers and the header: nothing near the 16 GiB the table would need.
    expect(source.bytesRead).toBeLessThan(80 * 1024);
  });

  it('refuses a BAT too small to cover the disk', async () => {
    const bad = patchHeader(dynamic, (view, at) => view.setUint32(at + 0x1c, 2));
    expect((await expectDiskError(openImage(memory(bad)), 'BAD_HEADER')).field).toBe('dynamicHeader.maxTableEntries');
  });

  it('refuses a BAT entry pointing past the end, and a truncated file', async () => {
    const table = tableOffsetOf(dynamic);
    const bad = dynamic.slice();
    new DataView(bad.buffer).setUint32(table + 4, (dynamic.length + 4096) / 512);
    const error = await expectDiskError(openImage(memory(bad)), 'OFFSET_OUT_OF_RANGE');
    expect(error.field).toBe('bat[1]');
    expect(error.offset).toBe(table + 4);
    // Cut in half: the end footer is gone (the copy at 0 is used), and the blocks past the cut are refused.
    await expectDiskError(openImage(memory(dynamic.subarray(0, dynamic.length >> 1))), 'OFFSET_OUT_OF_RANGE');
  });

  it('refuses a dataOffset past the end', async () => {
    const bad = patchFooters(dynamic, (view, at) => view.setBigUint64(at + 0x10, 0xffffffffffffffffn));
    expect((await expectDiskError(openImage(memory(bad)), 'OFFSET_OUT_OF_RANGE')).field).toBe('footer.dataOffset');
  });

  it('reports block size, BAT facts and allocatedSize', async () => {
    const report = await inspectDisk(fixture('mbr-bios-dynamic.vhd'));
    expect(report.details).toMatchObject({ blockSize: 2 * MiB, maxTableEntries: 16, allocatedBlocks: 5, tableOffset: 0x600 });
    expect(report.allocatedSize).toBe(5 * 2 * MiB);
    const odd = await inspectDisk(fixture('odd-dynamic.vhd')); // 3 blocks; the last covers only 1 MiB + 1536 of the disk
    expect(odd.allocatedSize).toBe(5244416);
  });
});

// --- sector bitmaps, pipes -----------------------------------------------------------------------------------

describe('sector bitmaps and streaming', () => {
  it('reads sectors whose bitmap bit is 0 as zeros, from a file and from a pipe', async () => {
    const dynamic = read('odd-dynamic.vhd');
    const original = await allBytes(await openImage(memory(dynamic)));
    const bitmapAt = batOf(dynamic)[1]! * 512;
    const patched = dynamic.slice();
    patched[bitmapAt] = 0b1010_0000; // block 1: sectors 0 and 2 present, 1 and 3..7 absent
    patched[bitmapAt + 100] = 0x00; // sectors 800..807 absent
    const expected = original.slice();
    const blockStart = 2 * MiB;
    for (const sector of [1, 3, 4, 5, 6, 7, 800, 801, 802, 803, 804, 805, 806, 807]) {
      expected.fill(0, blockStart + sector * 512, blockStart + sector * 512 + 512);
    }
    const image = await openImage(memory(patched));
    expect(Buffer.from(await allBytes(image)).equals(Buffer.from(expected))).toBe(true);
    expect(Buffer.from(await image.read(blockStart, 4096)).equals(Buffer.from(expected.subarray(blockStart, blockStart + 4096)))).toBe(true);
    const extents: Extent[] = [];
    for await (const extent of image.extents()) extents.push(extent);
    expect(extents.some((extent) => extent.offset === blockStart && extent.length === 512)).toBe(true);

    const path = join(tmp, 'bitmap.vhd');
    writeFileSync(path, patched);
    const piped = await openImage(pipe(path), { format: 'vhd' });
    expect(Buffer.from(await allBytes(piped)).equals(Buffer.from(expected))).toBe(true);
  });

  it('a dynamic VHD through a pipe gives the same bytes as random access', async () => {
    const path = fixture('mbr-bios-dynamic.vhd');
    const file = await openImage(path);
    const expected = await guestHash(file);
    await file.close();
    const piped = await openImage(pipe(path));
    expect(piped.format).toBe('vhd');
    expect(piped.randomAccess).toBe(false);
    expect(await guestHash(piped)).toBe(expected);
    await expectDiskError(piped.read(0, 512), 'NOT_SEEKABLE');
  });

  it('a fixed VHD from a pipe is RAW to detection, and NOT_SEEKABLE when vhd is forced', async () => {
    const path = fixture('odd-fixed.vhd');
    const detected = await openImage(pipe(path));
    expect(detected.format).toBe('raw');
    await detected.close();
    await expectDiskError(openImage(pipe(path), { format: 'vhd' }), 'NOT_SEEKABLE');
  });

  it('blocks out of guest order read from a file but are refused up front from a pipe', async () => {
    const dynamic = read('odd-dynamic.vhd');
    const table = tableOffsetOf(dynamic);
    const swapped = dynamic.slice();
    const view = new DataView(swapped.buffer);
    const [first, second] = [view.getUint32(table), view.getUint32(table + 4)];
    view.setUint32(table, second);
    view.setUint32(table + 4, first);
    const original = await allBytes(await openImage(memory(dynamic)));
    const image = await openImage(memory(swapped));
    const bytes = await allBytes(image);
    expect(Buffer.from(bytes.subarray(0, 2 * MiB)).equals(Buffer.from(original.subarray(2 * MiB, 4 * MiB)))).toBe(true);
    const path = join(tmp, 'swapped.vhd');
    writeFileSync(path, swapped);
    await expectDiskError(openImage(pipe(path)), 'BACKWARD_READ');
  });
});

// --- differencing ------------------------------------------------------------------------------------------

describe('differencing disks', () => {
  const PARENT_NAME = 'parent-disk.vhd';
  /** mbr-bios-dynamic.vhd turned into a differencing disk: diskType 4 in both footers, a parent name. */
  function makeDifferencing(): Uint8Array {
    const base = patchFooters(read('mbr-bios-dynamic.vhd'), (view, at) => view.setUint32(at + 0x3c, 4));
    return patchHeader(base, (view, at) => {
      const name = Buffer.from(PARENT_NAME, 'utf16le').swap16();
      name.forEach((byte, i) => view.setUint8(at + 0x40 + i, byte));
      Buffer.from('W2ku').forEach((byte, i) => view.setUint8(at + 0x240 + i, byte));
    });
  }

  it('is refused with PARENT_REQUIRED naming the parent', async () => {
    const error = await expectDiskError(openImage(memory(makeDifferencing())), 'PARENT_REQUIRED');
    expect(error.message).toContain(PARENT_NAME);
    expect(error.format).toBe('vhd');
  });

  it('reads absent blocks and absent sectors from the parent, from a file and from a pipe', async () => {
    const child = makeDifferencing();
    const bat = batOf(child);
    const bitmapAt = bat[0]! * 512;
    child[bitmapAt] = 0x0f; // block 0: sectors 0..3 absent (from the parent), 4..7 present
    const own = await allBytes(await openImage(memory(read('mbr-bios-dynamic.vhd'))));
    const parentBytes = new Uint8Array(read('mixed.raw')); // 40 MiB parent for a 32 MiB child
    const expected = own.slice();
    bat.forEach((entry, block) => {
      if (entry === 0xffffffff) expected.set(parentBytes.subarray(block * 2 * MiB, (block + 1) * 2 * MiB), block * 2 * MiB);
    });
    expected.set(parentBytes.subarray(0, 4 * 512), 0);

    const parent = await openImage(fixture('mixed.raw'));
    const image = await openImage(memory(child), { parent });
    expect(image.subformat).toBe('differencing');
    expect(image.details.parent).toMatchObject({ name: PARENT_NAME, locators: [{ platformCode: 'W2ku' }] });
    expect(Buffer.from(await allBytes(image)).equals(Buffer.from(expected))).toBe(true);
    const at = 3 * 2 * MiB - 4096; // spans the end of allocated block 2 and the parent's block 3 (absent)
    expect(Buffer.from(await image.read(at, 8192)).equals(Buffer.from(expected.subarray(at, at + 8192)))).toBe(true);

    const path = join(tmp, 'child.vhd');
    writeFileSync(path, child);
    const piped = await openImage(pipe(path), { parent });
    expect(Buffer.from(await allBytes(piped)).equals(Buffer.from(expected))).toBe(true);
    await parent.close();
  });
});

// --- 2040 GiB: VHD's largest disk ---------------------------------------------------------------------------

describe('a 2040 GiB sparse VHD', () => {
  it('inspects from the footer, header and BAT only, and reads the data written at 1 TiB', async () => {
    const path = join(tmp, 'big.vhd');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic,force_size=on', path, '2040G']);
    execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 0xab 1T 64k', path], { stdio: 'ignore' });
    const report = await inspectDisk(path);
    const batBytes = (report.details.maxTableEntries as number) * 4;
    expect(report.virtualSize).toBe(2040 * 1024 * MiB);
    expect(report.virtualSize).toBe(qemuInfoSize(path));
    expect(report.allocatedSize).toBe(2 * MiB);
    // The BAT alone is 4 MiB (1,044,480 entries), so the 1 MiB goal cannot hold; allow the BAT plus the 64 KiB probe
    // and a few sectors of footers and header.
    console.log(`2040 GiB VHD: inspect read ${report.bytesRead} bytes (BAT ${batBytes})`);
    expect(report.bytesRead).toBeLessThan(batBytes + 72 * 1024);

    const image = await openImage(path);
    const started = Date.now();
    const extents: { offset: number; length: number }[] = [];
    for await (const { offset, length } of image.extents()) extents.push({ offset, length });
    expect(Date.now() - started).toBeLessThan(1000);
    // qemu allocated the whole 2 MiB block around the write (its bitmap all ones): one extent.
    expect(extents).toEqual([{ offset: 1024 * 1024 * MiB, length: 2 * MiB }]);
    const written = await image.read(1024 * 1024 * MiB, 65536);
    expect(written.every((byte) => byte === 0xab)).toBe(true);
    expect((await image.read(1024 * 1024 * MiB + 65536, 512)).every((byte) => byte === 0)).toBe(true);
    await image.close();
  });
});

// --- mutants ---------------------------------------------------------------------------------------------------

describe('mutation', () => {
  /** Opens a damaged copy, walks its first extents and reads a few places; returns 'ok' or the DiskError code. */
  async function exercise(bytes: Uint8Array): Promise<string> {
    try {
      const image = await openImage(memory(bytes));
      let seen = 0;
      for await (const extent of image.extents()) {
        expect(extent.length).toBeGreaterThan(0);
        if (++seen >= 64) break;
      }
      const size = image.virtualSize ?? 0;
      for (const at of [0, Math.floor(size / 2), Math.max(0, size - 4096)]) await image.read(at, Math.min(4096, size - at));
      await image.close();
      return 'ok';
    } catch (error) {
      if (!(error instanceof DiskError) || error.code === 'INTERNAL') throw error;
      return error.code;
    }
  }

  it('survives 2000 damaged copies of dynamic and fixed VHD metadata, and 800 with checksums repaired', async () => {
    const dynamicPath = join(tmp, 'mutant-base-dynamic.vhd');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic', dynamicPath, '3M']);
    execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 0x5a 1M 64k', dynamicPath], { stdio: 'ignore' });
    const fixedPath = join(tmp, 'mutant-base-fixed.vhd');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=fixed', fixedPath, '1M']);
    const dynamic = new Uint8Array(readFileSync(dynamicPath));
    const size = dynamic.length;
    const table = tableOffsetOf(dynamic);
    const bat = batOf(dynamic);
    const bitmap = bat.find((entry) => entry !== 0xffffffff)! * 512;
    const fixedSize = readFileSync(fixedPath).length;

    const all = await runMutations({
      path: dynamicPath,
      regions: [[0, 512], [512, 1536], [table, table + 512], [bitmap, bitmap + 512], [size - 512, size]],
      count: 1000,
      seed: 0x5648_4401,
    });
    const fixed = await runMutations({
      path: fixedPath,
      regions: [[fixedSize - 512, fixedSize - 512 + 0x48]],
      count: 400,
      seed: 0x5648_4403,
    });
    // Our own loops from here: runMutations reads its fixture as a Buffer, whose slice() is a view, so its mutants
    // accumulate damage (reported to the lead). These copy a Uint8Array, so each mutant carries only its own damage.
    const tally = async (count: number, seed: number, damage: (random: () => number) => Uint8Array) => {
      const outcomes: Record<string, number> = {};
      const random = seeded(seed);
      for (let i = 0; i < count; i++) {
        const outcome = await exercise(damage(random));
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
      return outcomes;
    };
    // The BAT entries and a sector bitmap carry no checksum: these mutants reach the allocation map.
    const unchecked = await tally(600, 0x5648_4402, (random) =>
      mutate(dynamic, random, [[table, table + 4 * bat.length], [bitmap, bitmap + 512]]),
    );
    // Checksums repaired after damaging the end footer and the dynamic header, so the fields themselves are tested.
    const repaired = await tally(800, 0x5648_4404, (random) => {
      const copy = mutate(dynamic, random, [[size - 512 + 8, size - 512 + 0x40], [512 + 8, 512 + 0x24]]);
      fixChecksum(copy, size - 512, 512, 0x40);
      fixChecksum(copy, 512, 1024, 0x24);
      return copy;
    });
    const total = (outcomes: Record<string, number>) => Object.values(outcomes).reduce((a, b) => a + b, 0);
    console.log('vhd mutants:', { all, unchecked, fixed, repaired });
    expect(total(all) + total(unchecked) + total(fixed) + total(repaired)).toBe(2800);
    expect(all.BAD_CHECKSUM).toBeGreaterThan(0);
    expect(unchecked.OFFSET_OUT_OF_RANGE).toBeGreaterThan(0);
    expect(unchecked.ok).toBeGreaterThan(0);
    expect(fixed.BAD_CHECKSUM).toBeGreaterThan(0);
    expect(Object.keys(repaired).length).toBeGreaterThanOrEqual(4);
  });
});
