/**
 * qcow2-specific tests: v2/v3, compressed clusters (zlib and zstd), 512 B and 2 MiB clusters, zero clusters, extended
 * L2 entries, the refusals (encryption, backing file, external data file, unknown features and compression types), damaged headers and tables
 * with their codes, pipes (including qemu's out-of-order compressed layout), a 2 TiB sparse disk, mutants.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLayout } from '../../src/formats/qcow2/header.js';
import { qcow2 } from '../../src/formats/qcow2/index.js';
import { Qcow2Mapping } from '../../src/formats/qcow2/mapping.js';
import type { DiskImage, Extent } from '../../src/image/types.js';

import { openImage } from '../../src/open.js';
import { ForwardSource } from '../../src/source/forward.js';
import { MemorySource } from '../../src/source/memory.js';
import { expectDiskError, fixture, inspectDisk, guestHash, qemuRawHash } from '../helpers.js';
import { runMutations } from '../mutation.js';

const tmp = mkdtempSync(join(tmpdir(), 'diskport-qcow2-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const KiB = 1024;
const MiB = 1024 * KiB;
const TiB = 1024 * 1024 * MiB;

// --- helpers ---------------------------------------------------------------------------------------------

function qemuImg(...args: string[]): void {
  execFileSync('qemu-img', args, { stdio: 'ignore' });
}

function qemuIo(path: string, ...commands: string[]): void {
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((command) => ['-c', command]), path], { stdio: 'ignore' });
}

function temp(name: string): string {
  return join(tmp, name);
}

/** A copy of a file with `edit` applied through a big-endian DataView. */
function patched(path: string, edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const bytes = new Uint8Array(readFileSync(path));
  edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes);
  return bytes;
}

function memory(bytes: Uint8Array, name = 'patched.qcow2'): MemorySource {
  return new MemorySource(name, bytes);
}

function pipe(path: string): ForwardSource {
  return new ForwardSource('pipe', createReadStream(path, { highWaterMark: 64 * KiB }));
}

async function allExtents(image: DiskImage): Promise<{ offset: number; length: number; zero: boolean; first?: number }[]> {
  const out: { offset: number; length: number; zero: boolean; first?: number }[] = [];
  for await (const extent of image.extents() as AsyncIterable<Extent>) {
    out.push({ offset: extent.offset, length: extent.length, zero: extent.zero === true, first: extent.data?.[0] });
  }
  return out;
}

/** Reads the whole image (extents and a few random reads), returning whatever error comes out. */
async function readAll(image: DiskImage): Promise<void> {
  for await (const extent of image.extents()) expect(extent.length).toBeGreaterThan(0);
  const size = image.virtualSize ?? 0;
  await image.read(0, Math.min(size, 64 * KiB));
}

/** Offsets and entries of the active tables, found the way the spec says (header fields, then L1). */
function tables(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const clusterBits = view.getUint32(20);
  const l1Offset = Number(view.getBigUint64(40));
  const l1Size = view.getUint32(36);
  const l2 = (index: number) => Number(view.getBigUint64(l1Offset + index * 8) & 0x00fffffffffffe00n);
  return { view, clusterBits, clusterSize: 2 ** clusterBits, l1Offset, l1Size, l2 };
}

/** The first compressed L2 entry (with at least `minSectors` extra sectors): table position, host offset. */
function firstCompressed(bytes: Uint8Array, minSectors = 0) {
  const { view, clusterBits, l1Size, l2 } = tables(bytes);
  const x = BigInt(62 - (clusterBits - 8));
  for (let i = 0; i < l1Size; i++) {
    for (let j = 0; l2(i) !== 0 && j < 2 ** clusterBits / 8; j++) {
      const entry = view.getBigUint64(l2(i) + j * 8);
      const descriptor = entry & ((1n << 62n) - 1n);
      if (entry & (1n << 62n) && descriptor >> x >= BigInt(minSectors)) {
        const guest = (i * 2 ** clusterBits) / 8 + j;
        return { at: l2(i) + j * 8, host: Number(descriptor & ((1n << x) - 1n)), guest: guest * 2 ** clusterBits };
      }
    }
  }
  throw new Error('no compressed cluster');
}

// --- fixtures --------------------------------------------------------------------------------------------

describe('fixtures made by qemu-img', () => {
  it.each([
    ['mixed.qcow2', 'v3', { compat: '1.1', clusterSize: 65536, compressionType: 'zlib', refcountBits: 16 }],
    ['mixed-v2.qcow2', 'v2', { compat: '0.10', clusterSize: 65536 }],
    ['odd-512.qcow2', 'v3', { clusterSize: 512 }],
    ['small-2m.qcow2', 'v3', { clusterSize: 2 * MiB }],
    ['small-lazy.qcow2', 'v3', { lazyRefcounts: true, refcountBits: 1 }],
    ['odd-compressed-4k.qcow2', 'v2', { clusterSize: 4096, compat: '0.10' }],
    ['mixed-zstd.qcow2', 'v3', { compressionType: 'zstd' }],
    ['odd-zstd-2m.qcow2', 'v3', { compressionType: 'zstd', clusterSize: 2 * MiB }],
  ])('%s: subformat and details', async (name, subformat, details) => {
    const report = await inspectDisk(fixture(name));
    expect(report.subformat).toBe(subformat);
    expect(report.details).toMatchObject({ ...details, dirty: false, corrupt: false, extendedL2: false, snapshots: 0 });
  });

  it.each(['mixed-v2.qcow2', 'mixed-compressed.qcow2', 'odd-compressed-4k.qcow2', 'odd-512.qcow2', 'small-2m.qcow2', 'mixed-zstd.qcow2', 'odd-zstd-2m.qcow2'])(
    '%s: guest bytes equal qemu-img convert -O raw',
    async (name) => {
      const image = await openImage(fixture(name));
      try {
        expect(await guestHash(image)).toBe(qemuRawHash(fixture(name), 'qcow2'));
      } finally {
        await image.close();
      }
    },
  );

  it('the last, partial cluster of an odd-sized compressed image inflates to a whole cluster', async () => {
    const image = await openImage(fixture('odd-compressed-4k.qcow2'));
    const raw = readFileSync(fixture('odd.raw'));
    const size = image.virtualSize!;
    expect(size % 4096).not.toBe(0);
    const tail = await image.read(size - 1536, 1536);
    await image.close();
    expect(Buffer.from(tail).equals(raw.subarray(size - 1536))).toBe(true);
  });

  it('allocatedSize counts allocated clusters (compressed ones too) from the L2 tables', async () => {
    const plain = await inspectDisk(fixture('mixed.qcow2'));
    const compressed = await inspectDisk(fixture('mixed-compressed.qcow2'));
    const empty = await inspectDisk(fixture('empty.qcow2'));
    expect(plain.allocatedSize).toBeGreaterThan(0);
    expect(plain.allocatedSize! % 65536).toBe(0);
    expect(compressed.allocatedSize).toBe(plain.allocatedSize);
    expect(empty.allocatedSize).toBe(0);
  });

  it('map() returns one span over a run of contiguous host clusters', async () => {
    const source = memory(new Uint8Array(readFileSync(fixture('mixed.qcow2'))));
    const layout = await readLayout(source);
    const mapping = await Qcow2Mapping.open(layout, source, source.size);
    let longest = 0;
    for (let offset = 0; offset < layout.virtualSize; ) {
      const span = await mapping.map(offset);
      if (span.kind === 'data') longest = Math.max(longest, span.length);
      offset += span.length;
    }
    expect(longest).toBeGreaterThanOrEqual(16 * layout.clusterSize);
  });
});

// --- refusals --------------------------------------------------------------------------------------------

describe('images diskport refuses, each with its own code', () => {
  it('encrypted -> QCOW2_ENCRYPTED', async () => {
    await expectDiskError(openImage(fixture('encrypted.qcow2')), 'QCOW2_ENCRYPTED');
  });

  it('backing file -> QCOW2_BACKING_FILE naming the file', async () => {
    const error = await expectDiskError(openImage(fixture('child-backing.qcow2')), 'QCOW2_BACKING_FILE');
    expect(error.message).toContain('"mixed.qcow2"');
    expect(error.format).toBe('qcow2');
  });

  it('external data file -> QCOW2_EXTERNAL_DATA_FILE naming the file', async () => {
    const error = await expectDiskError(openImage(fixture('external-data.qcow2')), 'QCOW2_EXTERNAL_DATA_FILE');
    expect(error.message).toContain('"external-data.bin"');
  });

  it('an unknown compression_type -> UNSUPPORTED_FEATURE at the field', async () => {
    const bytes = patched(fixture('mixed-zstd.qcow2'), (_view, all) => void (all[104] = 2));
    const error = await expectDiskError(openImage(memory(bytes)), 'UNSUPPORTED_FEATURE');
    expect(error.message).toContain('compression_type 2');
    expect(error.offset).toBe(104);
  });

  it('version 1 (old qcow) and version 4 -> UNSUPPORTED_VERSION', async () => {
    for (const version of [1, 4]) {
      const bytes = patched(fixture('empty.qcow2'), (view) => view.setUint32(4, version));
      await expectDiskError(openImage(memory(bytes)), 'UNSUPPORTED_VERSION');
    }
  });

  it('an unknown incompatible feature -> UNSUPPORTED_FEATURE, named from the feature name table', async () => {
    const unnamed = patched(fixture('empty.qcow2'), (view) => view.setBigUint64(72, 1n << 9n));
    expect((await expectDiskError(openImage(memory(unnamed)), 'UNSUPPORTED_FEATURE')).message).toContain('bit 9');
    // Rename the table's first entry (incompatible bit 0, "dirty bit") to bit 9.
    const named = patched(fixture('empty.qcow2'), (view, bytes) => {
      view.setBigUint64(72, 1n << 9n);
      const table = Buffer.from(bytes).indexOf('dirty bit') - 2;
      expect(view.getUint32(table - 8)).toBe(0x6803f857);
      bytes[table + 1] = 9;
      bytes.set(Buffer.from('fancy feature\0\0'), table + 2);
    });
    expect((await expectDiskError(openImage(memory(named)), 'UNSUPPORTED_FEATURE')).message).toContain('fancy feature');
  });

  it('dirty and corrupt bits still read, and show in details', async () => {
    const bytes = patched(fixture('odd.qcow2'), (view) => view.setBigUint64(72, 0b11n));
    const image = await openImage(memory(bytes));
    expect(image.details).toMatchObject({ dirty: true, corrupt: true });
    expect(await guestHash(image)).toBe(qemuRawHash(fixture('odd.qcow2'), 'qcow2'));
  });
});

// --- zero clusters and extended L2 -----------------------------------------------------------------------

describe('zero clusters and subclusters', () => {
  it('v3 zero clusters read as a zero extent', async () => {
    const path = temp('zero.qcow2');
    qemuImg('create', '-f', 'qcow2', path, '1M');
    qemuIo(path, 'write -P 0x55 0 192k', 'write -z 0 64k');
    const image = await openImage(path);
    const extents = await allExtents(image);
    expect(extents[0]).toMatchObject({ offset: 0, length: 64 * KiB, zero: true });
    expect(extents[1]).toMatchObject({ offset: 64 * KiB, length: 128 * KiB, zero: false, first: 0x55 });
    expect(image.allocatedSize).toBe(128 * KiB);
    expect((await image.read(0, 64 * KiB)).every((byte) => byte === 0)).toBe(true);
    expect(await guestHash(image)).toBe(qemuRawHash(path, 'qcow2'));
    await image.close();
  });

  it('the zero flag in a v2 image is a reserved bit -> CORRUPT_DATA', async () => {
    const bytes = patched(fixture('mixed-v2.qcow2'), (view, all) => {
      const { l2 } = tables(all);
      view.setUint32(l2(0) + 4, view.getUint32(l2(0) + 4) | 1);
    });
    const image = await openImage(memory(bytes));
    await expectDiskError(image.read(0, 512), 'CORRUPT_DATA');
  });

  it('extended L2 entries: allocated, zero and unallocated subclusters', async () => {
    const path = temp('extended.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=64k', path, '4M');
    qemuIo(
      path,
      'write -P 0x11 0 4k', // subclusters 0-1 of cluster 0
      'write -P 0x22 70k 3k', // subclusters 3-4 of cluster 1
      'write -z 128k 8k', // zero subclusters without data
      'write -P 0x33 1M 128k', // two whole clusters
      'write -P 0x44 2M 64k',
      'write -z 2052k 4k', // zero subclusters inside an allocated cluster
    );
    const image = await openImage(path);
    expect(image.details).toMatchObject({ extendedL2: true });
    const extents = await allExtents(image);
    expect(extents.slice(0, 3)).toEqual([
      { offset: 0, length: 4 * KiB, zero: false, first: 0x11 },
      { offset: 70 * KiB, length: 4 * KiB, zero: false, first: 0x22 }, // 3 KiB written, two 2 KiB subclusters allocated
      { offset: 128 * KiB, length: 8 * KiB, zero: true, first: undefined },
    ]);
    expect(extents.find((extent) => extent.offset === 2052 * KiB)).toMatchObject({ zero: true, length: 4 * KiB });
    expect(image.allocatedSize).toBe(4 * KiB + 4 * KiB + 128 * KiB + 60 * KiB);
    expect(await guestHash(image)).toBe(qemuRawHash(path, 'qcow2'));
    const piped = await openImage(pipe(path));
    expect(await guestHash(piped)).toBe(await guestHash(image));
    await image.close();
  });

  it('a subcluster both allocated and zero -> CORRUPT_DATA', async () => {
    const path = temp('extended-bad.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=64k', path, '1M');
    qemuIo(path, 'write -P 0x11 0 4k');
    const bytes = patched(path, (view, all) => view.setUint32(tables(all).l2(0) + 8, 1));
    await expectDiskError(openImage(memory(bytes)).then(readAll), 'CORRUPT_DATA');
  });
});

// --- damaged headers and tables --------------------------------------------------------------------------

describe('damaged images fail with their codes', () => {
  const odd = fixture('odd.qcow2');

  it('a file shorter than the header -> TRUNCATED', async () => {
    const bytes = new Uint8Array(readFileSync(odd)).subarray(0, 90);
    await expectDiskError(openImage(memory(bytes)), 'TRUNCATED');
  });

  it('a file cut before its L2 table -> OFFSET_OUT_OF_RANGE', async () => {
    const bytes = new Uint8Array(readFileSync(odd));
    const { l2 } = tables(bytes);
    await expectDiskError(openImage(memory(bytes.subarray(0, l2(0) + 100))), 'OFFSET_OUT_OF_RANGE');
  });

  it('a file cut inside its data -> OFFSET_OUT_OF_RANGE when that data is reached', async () => {
    const bytes = new Uint8Array(readFileSync(odd));
    const image = await openImage(memory(bytes.subarray(0, 2 * MiB)));
    await expectDiskError(readAll(image), 'OFFSET_OUT_OF_RANGE');
  });

  it('no "QFI\\xfb" magic when the reader is forced -> BAD_MAGIC', async () => {
    const bytes = patched(odd, (view) => view.setUint32(0, 0x51464900));
    expect(qcow2.detect({ head: bytes.subarray(0, 512), tail: undefined, size: bytes.length, name: 'x' })).toBe(false);
    await expectDiskError(openImage(memory(bytes), { format: 'qcow2' }), 'BAD_MAGIC');
  });

  it('cluster_bits 30 -> LIMIT_EXCEEDED; 8 -> BAD_HEADER', async () => {
    const big = await expectDiskError(openImage(memory(patched(odd, (view) => view.setUint32(20, 30)))), 'LIMIT_EXCEEDED');
    expect(big.field).toBe('header.cluster_bits');
    expect(big.offset).toBe(20);
    await expectDiskError(openImage(memory(patched(odd, (view) => view.setUint32(20, 8)))), 'BAD_HEADER');
  });

  it('a huge l1_size -> LIMIT_EXCEEDED without reading it', async () => {
    const source = memory(patched(odd, (view) => view.setUint32(36, 0x40000000)));
    const error = await expectDiskError(openImage(source), 'LIMIT_EXCEEDED');
    expect(error.field).toBe('header.l1_size');
    expect(source.bytesRead).toBeLessThan(MiB);
  });

  it('an l1_size too small for the disk -> BAD_HEADER', async () => {
    const bytes = patched(odd, (view) => view.setBigUint64(24, 1n << 40n));
    await expectDiskError(openImage(memory(bytes)), 'BAD_HEADER');
  });

  it('a disk size over the maximum -> LIMIT_EXCEEDED', async () => {
    const bytes = patched(odd, (view) => view.setBigUint64(24, 1n << 60n));
    await expectDiskError(openImage(memory(bytes)), 'LIMIT_EXCEEDED');
  });

  it('an L1 table past the end -> OFFSET_OUT_OF_RANGE; unaligned -> BAD_HEADER', async () => {
    const past = await expectDiskError(
      openImage(memory(patched(odd, (view) => view.setBigUint64(40, 1n << 40n)))),
      'OFFSET_OUT_OF_RANGE',
    );
    expect(past.field).toBe('header.l1_table_offset');
    await expectDiskError(openImage(memory(patched(odd, (view) => view.setBigUint64(40, 0x30200n)))), 'BAD_HEADER');
  });

  it('header_length not a multiple of 8 -> BAD_HEADER', async () => {
    await expectDiskError(openImage(memory(patched(odd, (view) => view.setUint32(100, 106)))), 'BAD_HEADER');
  });

  it('a header extension longer than the first cluster -> BAD_HEADER', async () => {
    const bytes = patched(odd, (view) => {
      expect(view.getUint32(112)).toBe(0x6803f857);
      view.setUint32(116, 0x10000);
    });
    await expectDiskError(openImage(memory(bytes)), 'BAD_HEADER');
  });

  it('an L1 entry with reserved bits or pointing past the end', async () => {
    const reserved = patched(odd, (view, all) => view.setUint32(tables(all).l1Offset + 4, tables(all).l2(0) + 1));
    await expectDiskError(openImage(memory(reserved)), 'CORRUPT_DATA');
    const past = patched(odd, (view, all) => view.setUint32(tables(all).l1Offset, 0x10));
    await expectDiskError(openImage(memory(past)), 'OFFSET_OUT_OF_RANGE');
  });

  it('an L2 entry pointing past the end -> OFFSET_OUT_OF_RANGE, unaligned -> CORRUPT_DATA', async () => {
    const past = patched(odd, (view, all) => view.setUint32(tables(all).l2(0), 0x80000010));
    const image = await openImage(memory(past));
    const error = await expectDiskError(image.read(0, 512), 'OFFSET_OUT_OF_RANGE');
    expect(error.field).toBe('l2_entry');
    expect(error.offset).toBe(tables(past).l2(0));
    const unaligned = patched(odd, (view, all) => view.setUint32(tables(all).l2(0) + 4, view.getUint32(tables(all).l2(0) + 4) + 0x200));
    await expectDiskError((await openImage(memory(unaligned))).read(0, 512), 'CORRUPT_DATA');
  });

  it('an L2 entry with reserved bits -> CORRUPT_DATA', async () => {
    const bytes = patched(odd, (view, all) => view.setUint32(tables(all).l2(0), view.getUint32(tables(all).l2(0)) | 0x01000000));
    await expectDiskError((await openImage(memory(bytes))).read(0, 512), 'CORRUPT_DATA');
  });

  describe.each([
    ['zlib', 'odd-compressed-4k.qcow2'],
    ['zstd', 'mixed-zstd.qcow2'],
  ])('%s-compressed clusters', (_compression, name) => {
    const path = fixture(name);
    it('garbage instead of compressed data -> CORRUPT_DATA', async () => {
      const bytes = new Uint8Array(readFileSync(path));
      const { host, guest } = firstCompressed(bytes);
      bytes.fill(0xff, host, host + 64);
      const image = await openImage(memory(bytes));
      await expectDiskError(image.read(guest, 512), 'CORRUPT_DATA');
    });

    it('a sector count too short for the data -> CORRUPT_DATA (decompresses short)', async () => {
      const bytes = new Uint8Array(readFileSync(path));
      const { at, host, guest } = firstCompressed(bytes, 1);
      new DataView(bytes.buffer).setBigUint64(at, (1n << 62n) | BigInt(host)); // 0 extra sectors: the data is cut
      const image = await openImage(memory(bytes));
      await expectDiskError(image.read(guest, 512), 'CORRUPT_DATA');
    });

    it('a compressed cluster past the end -> OFFSET_OUT_OF_RANGE', async () => {
      const bytes = new Uint8Array(readFileSync(path));
      const { at, guest } = firstCompressed(bytes);
      new DataView(bytes.buffer).setBigUint64(at, (1n << 62n) | BigInt(bytes.length + 4096));
      await expectDiskError((await openImage(memory(bytes))).read(guest, 512), 'OFFSET_OUT_OF_RANGE');
    });
  });

  it('a zstd frame declaring another size than the cluster -> CORRUPT_DATA at its L2 entry, before decoding', async () => {
    const bytes = new Uint8Array(readFileSync(fixture('mixed-zstd.qcow2')));
    const { at, host, guest } = firstCompressed(bytes);
    expect(bytes[host + 4]! >> 6).toBe(1); // qemu's frames: a 2-byte content size, stored minus 256
    new DataView(bytes.buffer).setUint16(host + 5, 0xffff, true);
    const error = await expectDiskError((await openImage(memory(bytes))).read(guest, 512), 'CORRUPT_DATA');
    expect(error.message).toContain('declares 65791 bytes, not 65536');
    expect(error.offset).toBe(at);
  });
});

// --- pipes -----------------------------------------------------------------------------------------------

describe('forward-only sources', () => {
  it.each(['mixed-compressed.qcow2', 'odd-compressed-4k.qcow2', 'odd-512.qcow2', 'mixed-v2.qcow2', 'mixed-zstd.qcow2'])(
    '%s through fs.createReadStream gives the bytes random access gives',
    async (name) => {
      const file = await openImage(fixture(name));
      const expected = await guestHash(file);
      await file.close();
      const piped = await openImage(pipe(fixture(name)));
      expect(piped.randomAccess).toBe(false);
      expect(await guestHash(piped)).toBe(expected);
      await piped.close();
    },
  );

  it('data laid out against guest order -> BACKWARD_READ', async () => {
    const path = temp('backwards.qcow2');
    qemuImg('create', '-f', 'qcow2', path, '8M');
    qemuIo(path, 'write -P 1 4M 2M', 'write -P 2 0 64k');
    await expectDiskError(openImage(pipe(path)).then(readAll), 'BACKWARD_READ');
    // The same file read at random is fine.
    const image = await openImage(path);
    expect((await image.read(0, 1))[0]).toBe(2);
    await image.close();
  });
});

// --- a 2 TiB sparse disk ---------------------------------------------------------------------------------

describe('a 2 TiB sparse image', () => {
  it('inspects and reads cheaply', async () => {
    const path = temp('big.qcow2');
    qemuImg('create', '-f', 'qcow2', path, '2T');
    qemuIo(path, 'write -P 0xab 1T 64k');
    const report = await inspectDisk(path);
    expect(report.virtualSize).toBe(2 * TiB);
    expect(report.bytesRead).toBeLessThan(MiB);
    expect(report.allocatedSize).toBe(64 * KiB);

    const image = await openImage(path);
    const started = Date.now();
    const extents = await allExtents(image);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(extents).toEqual([{ offset: TiB, length: 64 * KiB, zero: false, first: 0xab }]);
    const data = await image.read(TiB, 64 * KiB);
    expect(data.every((byte) => byte === 0xab)).toBe(true);
    expect((await image.read(TiB + 64 * KiB, 4096)).every((byte) => byte === 0)).toBe(true);
    await image.close();
  });
});

// --- mutants ---------------------------------------------------------------------------------------------

describe('mutation', () => {
  /** Small images of each kind, so thousands of mutants stay fast; regions are header, extensions, L1, L2. */
  function regionsOf(path: string, l2Bytes: number): [number, number][] {
    const bytes = new Uint8Array(readFileSync(path));
    const { l1Offset, l1Size, l2 } = tables(bytes);
    const regions: [number, number][] = [[0, 112], [112, 512], [l1Offset, l1Offset + l1Size * 8]];
    for (let i = 0; i < l1Size; i++) if (l2(i) !== 0) regions.push([l2(i), l2(i) + l2Bytes]);
    return regions;
  }

  it('2700 damaged copies end in a result or a DiskError', async () => {
    const raw = temp('mutant.raw');
    const content = Buffer.alloc(MiB);
    for (let i = 0; i < content.length; i += 4096) content.write(`block ${i} `.repeat(40), i);
    writeFileSync(raw, content);

    const plain = temp('mutant-v3.qcow2');
    qemuImg('convert', '-O', 'qcow2', '-o', 'cluster_size=4096', raw, plain);
    const compressed = temp('mutant-v2c.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compat=0.10,cluster_size=4096', raw, compressed);
    const zstd = temp('mutant-zstd.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd,cluster_size=4096', raw, zstd);
    // The frames themselves too: the first compressed clusters' headers and blocks.
    const frames = firstCompressed(new Uint8Array(readFileSync(zstd))).host;
    const extended = temp('mutant-ext.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=16k', extended, '1M');
    qemuIo(extended, 'write -P 0x11 0 4k', 'write -z 64k 8k', 'write -P 0x22 200k 40k');

    const runs = [
      { path: plain, regions: regionsOf(plain, 512), count: 800, seed: 1 },
      { path: compressed, regions: regionsOf(compressed, 512), count: 800, seed: 2 },
      { path: extended, regions: regionsOf(extended, 1024), count: 500, seed: 3 },
      { path: zstd, regions: [...regionsOf(zstd, 512), [frames, frames + 2048]] as [number, number][], count: 600, seed: 4 },
    ];
    let total = 0;
    for (const run of runs) {
      const outcomes = await runMutations(run);
      const count = Object.values(outcomes).reduce((sum, n) => sum + n, 0);
      expect(count).toBe(run.count);
      expect(Object.keys(outcomes).length).toBeGreaterThan(1);
      total += count;
    }
    expect(total).toBeGreaterThanOrEqual(2700);
  });
});
