/**
 * VMDK-specific cases: descriptors (multi-extent, paths, parents, syntax, ZERO/NOACCESS/RDONLY), hosted sparse
 * extents (damaged headers, tables pointing past the end), streamOptimized in both layouts (qemu's, and a
 * VMware-style GD_AT_END file built here byte by byte) through the map and the marker stream, 2 TiB disks and
 * mutation runs.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskError } from '../../src/errors.js';
import { vmdk } from '../../src/formats/vmdk/index.js';
import {
  GD_AT_END,
  MarkerType,
  MetadataMarker,
  NEWLINE_TEST,
  SPARSE_MAGIC,
  SparseExtentHeader,
} from '../../src/formats/vmdk/structs.js';
import type { DiskImage } from '../../src/image/types.js';

import { openImage } from '../../src/open.js';
import { ForwardSource } from '../../src/source/forward.js';
import { MemorySource } from '../../src/source/memory.js';
import { expectDiskError, fixture, inspectDisk, guestHash, qemuRawHash } from '../helpers.js';
import { runMutations } from '../mutation.js';

const SECTOR = 512;
const MiB = 1024 * 1024;
const TiB = 1024 * 1024 * MiB;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskport-vmdk-'));
  // Small images made by qemu-img from the start of a fixture, so damaged copies are cheap to make.
  writeFileSync(join(dir, 'small.raw'), readFileSync(fixture('mixed.raw')).subarray(0, 2 * MiB));
  qemu('convert', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', join(dir, 'small.raw'), join(dir, 'sparse.vmdk'));
  qemu('convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', join(dir, 'small.raw'), join(dir, 'stream.vmdk'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function qemu(...args: string[]): void {
  execFileSync('qemu-img', args, { stdio: 'pipe' });
}

function temp(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** A file's bytes as a plain Uint8Array (toEqual tells Buffer and Uint8Array apart). */
function bytesOf(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function pipe(path: string): ForwardSource {
  return new ForwardSource('pipe', createReadStream(path, { highWaterMark: 64 * 1024 }));
}

/** The whole disk through read() (the grain-table path), as one buffer. */
async function readAll(image: DiskImage): Promise<Uint8Array> {
  const size = image.virtualSize!;
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 4 * MiB) out.set(await image.read(at, Math.min(4 * MiB, size - at)), at);
  return out;
}

async function withImage<T>(input: string | ForwardSource | MemorySource, work: (image: DiskImage) => Promise<T>, options = {}): Promise<T> {
  const image = await openImage(input, { format: typeof input === 'string' ? undefined : 'vmdk', ...options });
  try {
    return await work(image);
  } finally {
    await image.close();
  }
}

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
}

function setU32(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value, true);
}

function setU64(bytes: Uint8Array, at: number, value: bigint): void {
  new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, value, true);
}

/** Byte offset of the grain table entry for `grain` in a qemu-made sparse file (GD from the header). */
function gteOffset(bytes: Uint8Array, grain: number): number {
  const header = SparseExtentHeader.decode(bytes);
  const gd = Number(header.gdOffset) * SECTOR;
  const gt = u32(bytes, gd + 4 * Math.floor(grain / header.numGTEsPerGT)) * SECTOR;
  return gt + 4 * (grain % header.numGTEsPerGT);
}

// ---------------------------------------------------------------------------------------------------------------
// A VMware-style streamOptimized file, built from the field tables: header with gdOffset = GD_AT_END, embedded
// descriptor, grain markers, a GT marker + GT after the grains of each table, GD marker + GD, footer marker +
// footer, EOS marker.

interface CraftGrain {
  lba: number;
  data: Uint8Array;
}

interface Craft {
  capacity: number;
  grainSectors: number;
  gtes: number;
  grains: CraftGrain[];
  zeroLbas?: number[];
  reversed?: boolean;
}

function craftStream(craft: Craft): { bytes: Uint8Array; expected: Uint8Array; grainOffsets: Map<number, number> } {
  const { capacity, grainSectors, gtes } = craft;
  const parts: Uint8Array[] = [];
  let sector = 0;
  const push = (bytes: Uint8Array): number => {
    const padded = new Uint8Array(Math.ceil(bytes.length / SECTOR) * SECTOR);
    padded.set(bytes);
    parts.push(padded);
    const at = sector;
    sector += padded.length / SECTOR;
    return at;
  };
  const marker = (numSectors: number, type: number) => MetadataMarker.encode({ numSectors: BigInt(numSectors), size: 0, type });
  const descriptorSectors = 2;
  const overHead = 8;
  const headerFields = {
    magic: SPARSE_MAGIC,
    version: 3,
    flags: 0x00030005, // newline test, zeroed-grain GTEs, compressed grains, markers
    capacity: BigInt(capacity),
    grainSize: BigInt(grainSectors),
    descriptorOffset: 1n,
    descriptorSize: BigInt(descriptorSectors),
    numGTEsPerGT: gtes,
    rgdOffset: 0n,
    gdOffset: GD_AT_END,
    overHead: BigInt(overHead),
    uncleanShutdown: 0,
    newlineTest: NEWLINE_TEST,
    compressAlgorithm: 1,
  };
  push(SparseExtentHeader.encode(headerFields));
  const descriptor = [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    'CID=1234abcd',
    'parentCID=ffffffff',
    'createType="streamOptimized"',
    '',
    '# Extent description',
    `RW ${capacity} SPARSE "crafted.vmdk"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    'ddb.adapterType = "lsilogic"',
    'ddb.virtualHWVersion = "14"',
    'ddb.uuid = "60 00 C2 9b 69 2f c9 76-74 c4 07 9e 10 87 3b f9"',
    '',
  ].join('\n');
  const descriptorBytes = new Uint8Array(descriptorSectors * SECTOR);
  descriptorBytes.set(Buffer.from(descriptor));
  push(descriptorBytes);
  while (sector < overHead) push(new Uint8Array(SECTOR));

  const grainBytes = grainSectors * SECTOR;
  const gdEntries = Math.ceil(capacity / (gtes * grainSectors));
  const tables = Array.from({ length: gdEntries }, () => new Uint32Array(gtes));
  const gd = new Uint32Array(gdEntries);
  const grainOffsets = new Map<number, number>();
  const emitTable = (index: number) => {
    if (tables[index]!.every((entry) => entry === 0)) return;
    push(marker(Math.ceil((gtes * 4) / SECTOR), MarkerType.grainTable));
    gd[index] = push(new Uint8Array(tables[index]!.buffer));
  };
  const sorted = [...craft.grains].sort((a, b) => a.lba - b.lba);
  for (const lba of craft.zeroLbas ?? []) tables[Math.floor(lba / grainSectors / gtes)]![(lba / grainSectors) % gtes] = 1;
  const emitGrain = (grain: CraftGrain) => {
    const compressed = deflateSync(grain.data);
    const record = new Uint8Array(12 + compressed.length);
    setU64(record, 0, BigInt(grain.lba));
    setU32(record, 8, compressed.length);
    record.set(compressed, 12);
    const at = push(record);
    grainOffsets.set(grain.lba, at * SECTOR);
    tables[Math.floor(grain.lba / grainSectors / gtes)]![(grain.lba / grainSectors) % gtes] = at;
  };
  if (craft.reversed) {
    for (const grain of [...sorted].reverse()) emitGrain(grain);
    for (let index = 0; index < gdEntries; index++) emitTable(index);
  } else {
    // VMware's order: the grains of one table, then that table.
    for (let index = 0; index < gdEntries; index++) {
      for (const grain of sorted) if (Math.floor(grain.lba / grainSectors / gtes) === index) emitGrain(grain);
      emitTable(index);
    }
  }
  push(marker(Math.ceil((gdEntries * 4) / SECTOR), MarkerType.grainDirectory));
  const gdSector = push(new Uint8Array(gd.buffer));
  push(marker(1, MarkerType.footer));
  push(SparseExtentHeader.encode({ ...headerFields, gdOffset: BigInt(gdSector) }));
  push(marker(0, MarkerType.endOfStream));

  const bytes = new Uint8Array(Buffer.concat(parts)); // a Uint8Array, so slice() copies
  const expected = new Uint8Array(capacity * SECTOR);
  for (const grain of craft.grains) {
    expected.set(grain.data.subarray(0, Math.min(grainBytes, expected.length - grain.lba * SECTOR)), grain.lba * SECTOR);
  }
  return { bytes, expected, grainOffsets };
}

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    // Half text-like, half noise, so deflate has something to do either way.
    out[i] = i % 1024 < 512 ? 0x41 + ((i >> 4) % 26) : state >>> 24;
  }
  return out;
}

/** 8 KiB grains, 512-entry tables (4 MiB each), 4 tables with the second empty, and a 5-sector last grain. */
const CRAFT: Craft = {
  capacity: 3 * 8192 + 5,
  grainSectors: 16,
  gtes: 512,
  grains: [
    { lba: 0, data: pattern(8192, 1) },
    { lba: 16, data: pattern(8192, 2) },
    { lba: 64, data: new Uint8Array(8192).fill(0xcd) },
    { lba: 8176, data: pattern(8192, 3) }, // the last grain of table 0
    { lba: 2 * 8192 + 48, data: pattern(8192, 4) },
    { lba: 3 * 8192, data: pattern(5 * SECTOR, 5) }, // inflates to less than a grain: the disk ends there
  ],
  zeroLbas: [32],
};

describe('VMware-style streamOptimized (GD_AT_END, markers, footer, EOS)', () => {
  it('reads the same bytes through the footer grain tables, the marker stream, a pipe and qemu-img', async () => {
    const { bytes, expected } = craftStream(CRAFT);
    const path = temp('crafted.vmdk', bytes);
    const want = sha256(expected);
    const facts = await withImage(path, async (image) => {
      expect(await sha256(await readAll(image))).toBe(want); // map: header -> footer -> GD -> GT -> grain markers
      expect(await guestHash(image)).toBe(want); // marker stream
      return { subformat: image.subformat, size: image.virtualSize, details: image.details, allocated: image.allocatedSize };
    });
    expect(facts.subformat).toBe('streamOptimized');
    expect(facts.size).toBe(CRAFT.capacity * SECTOR);
    expect(facts.allocated).toBe(5 * 8192 + 5 * SECTOR);
    expect(facts.details).toMatchObject({ cid: '1234abcd', adapterType: 'lsilogic', hwVersion: '14', grainSize: 8192, compressed: true });
    expect(await withImage(pipe(path), guestHash)).toBe(want);
    expect(qemuRawHash(path, 'vmdk')).toBe(want);
  });

  it('streams grains of the largest size, whose zlib data is bigger than one read of the file', async () => {
    // 4 MiB grains of noise deflate to a little over 4 MiB: the marker walk's buffer must grow, and the grains
    // straddle its refills (a text grain between them is small).
    const big: Craft = {
      capacity: 4 * 8192,
      grainSectors: 8192,
      gtes: 512,
      grains: [
        { lba: 0, data: randomBytes(4 * MiB) },
        { lba: 8192, data: pattern(4 * MiB, 7) },
        { lba: 3 * 8192, data: randomBytes(4 * MiB) },
      ],
    };
    const { bytes, expected } = craftStream(big);
    expect(bytes.length).toBeGreaterThan(2 * 4 * MiB + 2 * 4096);
    const path = temp('big-grains.vmdk', bytes);
    const want = sha256(expected);
    expect(await withImage(path, guestHash)).toBe(want);
    expect(await withImage(pipe(path), guestHash)).toBe(want);
    expect(qemuRawHash(path, 'vmdk')).toBe(want);
  });

  it('zero-fills a short last grain on random reads', async () => {
    const { bytes, expected } = craftStream(CRAFT);
    await withImage(new MemorySource('crafted', bytes), async (image) => {
      const end = image.virtualSize!;
      expect(await image.read(end - 5 * SECTOR, 5 * SECTOR)).toEqual(expected.subarray(end - 5 * SECTOR));
      expect(await image.read(32 * SECTOR, 8192)).toEqual(new Uint8Array(8192)); // GTE 1: zeroed grain
    });
  });

  it('falls back to the grain tables on a file when grains are out of order, and refuses that stream from a pipe', async () => {
    const { bytes, expected } = craftStream({ ...CRAFT, reversed: true });
    const path = temp('reversed.vmdk', bytes);
    expect(await withImage(path, guestHash)).toBe(sha256(expected));
    await expectDiskError(withImage(pipe(path), guestHash), 'CORRUPT_DATA');
    expect(qemuRawHash(path, 'vmdk')).toBe(sha256(expected));
  });

  it('reports a grain whose zlib data is damaged as CORRUPT_DATA on both paths', async () => {
    const { bytes, grainOffsets } = craftStream(CRAFT);
    const at = grainOffsets.get(16)! + 12 + 40;
    bytes[at] = bytes[at]! ^ 0xff;
    bytes[at + 1] = bytes[at + 1]! ^ 0x5a;
    const path = temp('bad-zlib.vmdk', bytes);
    await expectDiskError(withImage(path, (image) => image.read(16 * SECTOR, 4096)), 'CORRUPT_DATA');
    await expectDiskError(withImage(path, guestHash), 'CORRUPT_DATA');
    await expectDiskError(withImage(pipe(path), guestHash), 'CORRUPT_DATA');
  });

  it('checks the grain marker against the grain table and the footer markers', async () => {
    const { bytes, grainOffsets } = craftStream(CRAFT);
    const moved = bytes.slice();
    setU64(moved, grainOffsets.get(16)!, 48n); // the marker names another grain than the table does
    await expectDiskError(withImage(new MemorySource('m', moved), (image) => image.read(16 * SECTOR, 512)), 'CORRUPT_DATA');
    const footer = bytes.slice();
    footer[footer.length - 2 * SECTOR] = 0x58; // footer magic
    await expectDiskError(openImage(new MemorySource('f', footer)), 'BAD_MAGIC');
    const eos = bytes.slice();
    eos[eos.length - SECTOR + 12] = 7; // EOS marker type
    await expectDiskError(openImage(new MemorySource('e', eos)), 'BAD_MAGIC');
    // A pipe never reads the footer: the markers alone still give the disk.
    const { expected } = craftStream(CRAFT);
    const path = temp('bad-footer.vmdk', footer);
    expect(await withImage(pipe(path), guestHash)).toBe(sha256(expected));
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('qemu streamOptimized (GD inside the overhead, grain markers only)', () => {
  it('streams from a pipe the same bytes random reads give', async () => {
    const path = fixture('gpt-uefi.vmdk');
    const random = await withImage(path, async (image) => sha256(await readAll(image)));
    expect(await withImage(pipe(path), guestHash)).toBe(random);
    expect(await withImage(path, guestHash)).toBe(random);
  });

  it('reports a damaged zlib grain as CORRUPT_DATA and a cut-off grain as TRUNCATED', async () => {
    const bytes = readFileSync(join(dir, 'stream.vmdk'));
    const overHead = Number(SparseExtentHeader.decode(bytes).overHead) * SECTOR;
    const size = u32(bytes, overHead + 8);
    const first = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(overHead, true)) * SECTOR;
    const bad = Buffer.from(bytes);
    for (let i = 20; i < Math.min(size, 60); i++) bad[overHead + 12 + i] = bad[overHead + 12 + i]! ^ 0xa5;
    const path = temp('stream-bad.vmdk', bad);
    await expectDiskError(withImage(path, (image) => image.read(first, 4096)), 'CORRUPT_DATA');
    await expectDiskError(withImage(pipe(path), guestHash), 'CORRUPT_DATA');
    const cut = temp('stream-cut.vmdk', bytes.subarray(0, overHead + 12 + Math.floor(size / 2)));
    await expectDiskError(withImage(pipe(cut), guestHash), 'TRUNCATED');
    await expectDiskError(withImage(cut, (image) => image.read(first, 4096)), 'OFFSET_OUT_OF_RANGE');
  });

  it('refuses a grain marker claiming more than two grains of zlib data', async () => {
    const bytes = Buffer.from(readFileSync(join(dir, 'stream.vmdk')));
    const overHead = Number(SparseExtentHeader.decode(bytes).overHead) * SECTOR;
    const first = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(overHead, true)) * SECTOR;
    setU32(bytes, overHead + 8, 0x7fffffff);
    const path = temp('stream-huge-marker.vmdk', bytes);
    await expectDiskError(withImage(pipe(path), guestHash), 'CORRUPT_DATA');
    await expectDiskError(withImage(path, (image) => image.read(first, 512)), 'CORRUPT_DATA');
    await expectDiskError(withImage(path, guestHash), 'CORRUPT_DATA');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('hosted sparse extent header and tables', () => {
  const sparse = () => Buffer.from(readFileSync(join(dir, 'sparse.vmdk')));

  it('reads qemu monolithicSparse like qemu-img', async () => {
    const path = join(dir, 'sparse.vmdk');
    const report = await inspectDisk(path);
    expect(report).toMatchObject({ format: 'vmdk', subformat: 'monolithicSparse', virtualSize: 2 * MiB });
    expect(report.details).toMatchObject({ grainSize: 65536, compressed: false, extents: { count: 1 } });
    expect(await withImage(path, guestHash)).toBe(qemuRawHash(path, 'vmdk'));
  });

  it('reads zeroed grains (version 2, GTE 1) as declared zeros, like qemu-img', async () => {
    const path = join(dir, 'zeroed.vmdk');
    qemu('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicSparse,zeroed_grain=on', path, '4M');
    execFileSync('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0xab 0 1M', '-c', 'write -z 64k 128k', path], { stdio: 'pipe' });
    await withImage(path, async (image) => {
      const extents = [];
      for await (const extent of image.extents()) extents.push([extent.offset, extent.length, extent.zero === true]);
      expect(extents).toEqual([
        [0, 65536, false],
        [65536, 131072, true],
        [196608, 851968, false],
      ]);
      expect(image.allocatedSize).toBe(MiB - 131072);
      expect(await guestHash(image)).toBe(qemuRawHash(path, 'vmdk'));
    });
  });

  it('refuses a truncated header and a file cut before its grains start', async () => {
    const bytes = sparse();
    await expectDiskError(openImage(new MemorySource('short', bytes.subarray(0, 300))), 'TRUNCATED');
    await expectDiskError(openImage(new MemorySource('cut', bytes.subarray(0, 40 * 1024))), 'TRUNCATED');
  });

  it('reports grains pointing past the end as OFFSET_OUT_OF_RANGE', async () => {
    const bytes = sparse();
    setU32(bytes, gteOffset(bytes, 3), 0x7ffffff0);
    await expectDiskError(withImage(new MemorySource('m', bytes), (image) => image.read(3 * 65536, 4096)), 'OFFSET_OUT_OF_RANGE');
    // Half the file: grains in the lost half are past the end.
    const half = sparse().subarray(0, 1024 * 1024);
    await expectDiskError(withImage(new MemorySource('h', half), guestHash), 'OFFSET_OUT_OF_RANGE');
  });

  it('reports a grain directory past the end (header or GD entry) as OFFSET_OUT_OF_RANGE', async () => {
    const bytes = sparse();
    setU64(bytes, SparseExtentHeader.offsetOf('gdOffset'), BigInt(bytes.length / SECTOR + 10));
    await expectDiskError(openImage(new MemorySource('gd', bytes)), 'OFFSET_OUT_OF_RANGE');
    const entry = sparse();
    const gd = Number(SparseExtentHeader.decode(entry).gdOffset) * SECTOR;
    setU32(entry, gd, 0x00ffffff);
    await expectDiskError(withImage(new MemorySource('gde', entry), (image) => image.read(0, 512)), 'OFFSET_OUT_OF_RANGE');
  });

  it('bounds the grain size, the grain table size and the directory before reading them', async () => {
    const huge = sparse();
    setU64(huge, SparseExtentHeader.offsetOf('grainSize'), 1n << 40n);
    await expectDiskError(openImage(new MemorySource('g', huge)), 'LIMIT_EXCEEDED');
    const odd = sparse();
    setU64(odd, SparseExtentHeader.offsetOf('grainSize'), 96n);
    await expectDiskError(openImage(new MemorySource('g3', odd)), 'BAD_HEADER');
    const gtes = sparse();
    setU32(gtes, SparseExtentHeader.offsetOf('numGTEsPerGT'), 0xffffffff);
    await expectDiskError(openImage(new MemorySource('t', gtes)), 'LIMIT_EXCEEDED');
    // 2^42 sectors of 1-sector grains in 1-entry tables: a 16 TiB directory, refused without reading it.
    const directory = sparse();
    setU64(directory, SparseExtentHeader.offsetOf('capacity'), 1n << 42n);
    setU64(directory, SparseExtentHeader.offsetOf('grainSize'), 1n);
    setU32(directory, SparseExtentHeader.offsetOf('numGTEsPerGT'), 1);
    const source = new MemorySource('d', directory);
    await expectDiskError(vmdk.open(source, {}), 'LIMIT_EXCEEDED');
    expect(source.bytesRead).toBeLessThan(64 * 1024);
    const descriptor = sparse();
    setU64(descriptor, SparseExtentHeader.offsetOf('descriptorSize'), 1n << 30n);
    await expectDiskError(openImage(new MemorySource('ds', descriptor)), 'LIMIT_EXCEEDED');
  });

  it('refuses unknown versions, other compression and text-mode mangling', async () => {
    const version = sparse();
    setU32(version, SparseExtentHeader.offsetOf('version'), 4);
    await expectDiskError(openImage(new MemorySource('v', version)), 'UNSUPPORTED_VERSION');
    const compression = Buffer.from(readFileSync(join(dir, 'stream.vmdk')));
    compression[SparseExtentHeader.offsetOf('compressAlgorithm')] = 2;
    await expectDiskError(openImage(new MemorySource('c', compression)), 'UNSUPPORTED_FEATURE');
    const mangled = sparse();
    mangled[SparseExtentHeader.offsetOf('newlineTest') + 2] = 0x0a; // CR LF became LF LF
    const error = await expectDiskError(openImage(new MemorySource('n', mangled)), 'BAD_HEADER');
    expect(error.message).toContain('text-mode transfer');
    expect(error.field).toBe('header.newlineTest');
  });

  it('refuses ESX COWD extents and says BAD_MAGIC when forced onto a file that is not VMDK', async () => {
    const cowd = new Uint8Array(4096);
    cowd.set(Buffer.from('COWD'));
    await expectDiskError(openImage(new MemorySource('cowd', cowd)), 'UNSUPPORTED_FEATURE');
    await expectDiskError(openImage(fixture('small.raw'), { format: 'vmdk' }), 'BAD_MAGIC');
  });

  it('opens a slice whose embedded descriptor area is blank (qemu twoGbMaxExtentSparse -s001)', async () => {
    const path = fixture('mixed-2gb-sparse-s001.vmdk');
    const report = await inspectDisk(path);
    expect(report.details.descriptor).toBe('absent');
    expect(report.virtualSize).toBe(40 * MiB);
    expect(await withImage(path, guestHash)).toBe(await withImage(fixture('mixed-2gb-sparse.vmdk'), guestHash));
  });

  it('refuses a child disk made by qemu-img (parentCID + parentFileNameHint)', async () => {
    const base = join(dir, 'base.vmdk');
    copyFileSync(join(dir, 'sparse.vmdk'), base);
    qemu('create', '-f', 'vmdk', '-b', base, '-F', 'vmdk', join(dir, 'child.vmdk'));
    await expectDiskError(inspectDisk(join(dir, 'child.vmdk')), 'PARENT_REQUIRED');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('text descriptors', () => {
  const descriptor = (extents: string[], extra: string[] = []) =>
    ['# Disk DescriptorFile', 'version=1', 'CID=12345678', 'parentCID=ffffffff', 'createType="monolithicFlat"', ...extra, '', ...extents, ''].join(
      '\n',
    );

  it('joins FLAT-with-offset, SPARSE and odd-sized extents (multi.vmdk)', async () => {
    const small = bytesOf(fixture('small.raw'));
    const odd = bytesOf(fixture('odd.raw'));
    const expected = new Uint8Array(Buffer.concat([small.subarray(2048 * SECTOR, (2048 + 10240) * SECTOR), odd, odd.subarray(7 * SECTOR, 10 * SECTOR)]));
    const openFiles = () => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    await withImage(fixture('multi.vmdk'), async (image) => {
      expect(openFiles()).toBe(before + 4); // the descriptor and its three extent files
      expect(image.virtualSize).toBe(expected.length);
      expect(image.details).toMatchObject({ createType: 'twoGbMaxExtentFlat', extents: { count: 3 } });
      expect(await guestHash(image)).toBe(sha256(expected));
      // Reads across both extent boundaries.
      const first = 10240 * SECTOR;
      expect(await image.read(first - 700, 1400)).toEqual(expected.subarray(first - 700, first + 700));
      const second = first + 10243 * SECTOR;
      expect(await image.read(second - 1000, 2536)).toEqual(expected.subarray(second - 1000));
    });
    expect(openFiles()).toBe(before); // close() closed the extent files too
  });

  it('refuses extent paths outside the folder unless allowed', async () => {
    const outside = temp('outside.vmdk', descriptor(['RW 8 FLAT "../x.raw" 0']));
    await expectDiskError(inspectDisk(outside), 'PATH_OUTSIDE_FOLDER');
    const absolute = temp('absolute.vmdk', descriptor([`RW 2048 FLAT "${fixture('small.raw')}" 0`]));
    await expectDiskError(inspectDisk(absolute), 'PATH_OUTSIDE_FOLDER');
    const allowed = await withImage(absolute, (image) => image.read(0, 4096), { allowOutsideFolder: true });
    expect(allowed).toEqual(bytesOf(fixture('small.raw')).subarray(0, 4096));
  });

  it('reports a missing extent, a short flat extent and a capacity mismatch', async () => {
    await expectDiskError(inspectDisk(temp('missing.vmdk', descriptor(['RW 8 FLAT "nothere.raw" 0']))), 'EXTENT_MISSING');
    await expectDiskError(inspectDisk(temp('short.vmdk', descriptor(['RW 8192 FLAT "small.raw" 0']))), 'TRUNCATED');
    await expectDiskError(inspectDisk(temp('capacity.vmdk', descriptor(['RW 100 SPARSE "sparse.vmdk"']))), 'BAD_DESCRIPTOR');
  });

  it('refuses parent links', async () => {
    const cid = temp('parent.vmdk', descriptor(['RW 8 FLAT "small.raw" 0']).replace('parentCID=ffffffff', 'parentCID=0badc0de'));
    const error = await expectDiskError(inspectDisk(cid), 'PARENT_REQUIRED');
    expect(error.field).toBe('parentCID');
    const hint = temp('hint.vmdk', descriptor(['RW 8 FLAT "small.raw" 0'], ['parentFileNameHint="base.vmdk"']));
    await expectDiskError(inspectDisk(hint), 'PARENT_REQUIRED');
  });

  it('names the line of a syntax error', async () => {
    const garbage = temp('garbage.vmdk', descriptor(['RW 8 FLAT "small.raw" 0', 'this line means nothing']));
    const error = await expectDiskError(inspectDisk(garbage), 'BAD_DESCRIPTOR');
    expect(error.field).toBe('descriptor line 8');
    await expectDiskError(inspectDisk(temp('extent-syntax.vmdk', descriptor(['RW eight FLAT "small.raw"']))), 'BAD_DESCRIPTOR');
    await expectDiskError(inspectDisk(temp('quote.vmdk', descriptor(['RW 8 FLAT "small.raw" 0'], ['ddb.adapterType = "ide']))), 'BAD_DESCRIPTOR');
    await expectDiskError(inspectDisk(temp('no-type.vmdk', descriptor(['RW 8 FLAT "small.raw" 0']).replace(/createType=.*\n/, ''))), 'BAD_DESCRIPTOR');
    await expectDiskError(inspectDisk(temp('no-extents.vmdk', descriptor([]))), 'BAD_DESCRIPTOR');
  });

  it('reads ZERO and NOACCESS extents as zeros and RDONLY extents as data', async () => {
    const small = bytesOf(join(dir, 'small.raw')); // the descriptor's folder holds the 2 MiB copy
    const path = temp('kinds.vmdk', descriptor(['RW 16 ZERO', 'NOACCESS 8 FLAT "small.raw" 0', 'RDONLY 8 FLAT "small.raw" 4']));
    await withImage(path, async (image) => {
      expect(image.virtualSize).toBe(32 * SECTOR);
      const bytes = await image.read(0, 32 * SECTOR);
      expect(bytes.subarray(0, 24 * SECTOR)).toEqual(new Uint8Array(24 * SECTOR));
      expect(bytes.subarray(24 * SECTOR)).toEqual(small.subarray(4 * SECTOR, 12 * SECTOR));
      const extents = [];
      for await (const extent of image.extents()) extents.push({ offset: extent.offset, zero: extent.zero === true });
      expect(extents).toEqual([
        { offset: 0, zero: true },
        { offset: 24 * SECTOR, zero: false },
      ]);
    });
  });

  it('accepts CRLF line ends and unquoted values', async () => {
    const text = descriptor(['RW 16 ZERO']).replace('createType="monolithicFlat"', 'createType = monolithicFlat').replace(/\n/g, '\r\n');
    const report = await inspectDisk(temp('crlf.vmdk', text));
    expect(report).toMatchObject({ subformat: 'monolithicFlat', virtualSize: 16 * SECTOR });
  });

  it('refuses ESX-only extent types', async () => {
    for (const type of ['VMFSSPARSE', 'VMFSRDM', 'SESPARSE']) {
      const error = await expectDiskError(inspectDisk(temp(`${type}.vmdk`, descriptor([`RW 8 ${type} "small.raw"`]))), 'UNSUPPORTED_FEATURE');
      expect(error.message).toContain(type);
    }
  });

  it('needs a folder for extent files: a piped descriptor is NOT_SEEKABLE unless it names none', async () => {
    await expectDiskError(openImage(pipe(fixture('mixed-flat.vmdk')), { format: 'vmdk' }), 'NOT_SEEKABLE');
    const zero = temp('zero-only.vmdk', descriptor(['RW 2048 ZERO']));
    expect(await withImage(pipe(zero), guestHash)).toBe(sha256(new Uint8Array(2048 * SECTOR)));
  });

  it('limits the descriptor size and the number of extent lines', async () => {
    const big = temp('big-descriptor.vmdk', descriptor(['RW 8 ZERO'], [`ddb.comment = "${'x'.repeat(1100 * 1024)}"`]));
    await expectDiskError(inspectDisk(big), 'LIMIT_EXCEEDED');
    const many = temp('many.vmdk', descriptor(Array.from({ length: 32 * 1024 + 1 }, () => 'RW 1 ZERO')));
    await expectDiskError(inspectDisk(many), 'LIMIT_EXCEEDED');
  });

  it('detects descriptors by their text and leaves other text alone', () => {
    const probe = (text: string | Uint8Array) => ({
      head: typeof text === 'string' ? Buffer.from(text) : text,
      tail: undefined,
      size: undefined,
      name: 'p',
    });
    expect(vmdk.detect(probe(descriptor(['RW 8 ZERO'])))).toBe(true);
    expect(vmdk.detect(probe('# a shell script\necho createType\n'))).toBe(false);
    expect(vmdk.detect(probe(Buffer.concat([Buffer.from('# Disk DescriptorFile\n'), Buffer.from([1, 2, 3])])))).toBe(false);
    expect(vmdk.detect(probe(readFileSync(fixture('mixed-flat.vmdk'))))).toBe(true);
    expect(vmdk.detect(probe(readFileSync(fixture('small.raw')).subarray(0, 4096)))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('2 TiB sparse disks', () => {
  for (const subformat of ['monolithicSparse', 'streamOptimized']) {
    it(`${subformat}: inspect reads little, the data at 1 TiB reads back, and iterating is quick`, async () => {
      const path = join(dir, `big-${subformat}.vmdk`);
      qemu('create', '-q', '-f', 'vmdk', '-o', `subformat=${subformat}`, path, '2T');
      execFileSync('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0xab 1T 64k', path], { stdio: 'pipe' });
      const report = await inspectDisk(path);
      expect(report.virtualSize).toBe(2 * TiB);
      expect(report.subformat).toBe(subformat);
      expect(report.bytesRead).toBeLessThan(MiB);
      await withImage(path, async (image) => {
        expect(await image.read(TiB, 65536)).toEqual(new Uint8Array(65536).fill(0xab));
        expect(await image.read(TiB + 65536, 4096)).toEqual(new Uint8Array(4096));
        const started = Date.now();
        const data: number[] = [];
        for await (const extent of image.extents()) if (extent.data !== undefined) data.push(extent.offset, extent.length);
        expect(data).toEqual([TiB, 65536]);
        expect(Date.now() - started).toBeLessThan(5000);
      });
      rmSync(path);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------

describe('mutations', () => {
  it('every damaged header, descriptor, table and marker ends in a result or a DiskError', async () => {
    const regions = (path: string): [number, number][] => {
      const header = SparseExtentHeader.decode(readFileSync(path));
      const overHead = Number(header.overHead) * SECTOR;
      return [
        [0, 0x50],
        [SECTOR, SECTOR + 700],
        [21 * SECTOR, overHead],
        [overHead, overHead + 2048],
      ];
    };
    const { bytes } = craftStream(CRAFT);
    const crafted = temp('crafted-mutants.vmdk', bytes);
    const descriptorPath = temp(
      'descriptor-mutants.vmdk',
      ['# Disk DescriptorFile', 'version=1', 'CID=12345678', 'parentCID=ffffffff', 'createType="custom"', 'RW 2048 ZERO', 'NOACCESS 64 FLAT "x.raw" 0', 'ddb.adapterType = "ide"', ''].join('\n'),
    );
    const runs = [
      { path: join(dir, 'sparse.vmdk'), regions: regions(join(dir, 'sparse.vmdk')), count: 800, seed: 11 },
      { path: join(dir, 'stream.vmdk'), regions: regions(join(dir, 'stream.vmdk')), count: 800, seed: 12 },
      {
        path: crafted,
        regions: [
          [0, 0x50],
          [bytes.length - 3 * SECTOR, bytes.length],
          [8 * SECTOR, 8 * SECTOR + 4096],
          [bytes.length - 6 * SECTOR, bytes.length - 3 * SECTOR],
        ] as [number, number][],
        count: 400,
        seed: 13,
      },
      { path: descriptorPath, regions: [[0, 200]] as [number, number][], count: 300, seed: 14 },
    ];
    let total = 0;
    const outcomes: Record<string, number> = {};
    for (const run of runs) {
      const result = await runMutations(run);
      for (const [code, count] of Object.entries(result)) {
        outcomes[code] = (outcomes[code] ?? 0) + count;
        total += count;
      }
    }
    expect(total).toBe(2300);
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(Object.keys(outcomes).length).toBeGreaterThan(3);
  }, 60_000);
});

it('never lets anything but a DiskError escape on a random header', async () => {
  // A header with every field random after the magic: open must fail cleanly or work.
  let state = 7;
  for (let i = 0; i < 200; i++) {
    const bytes = new Uint8Array(8192);
    for (let j = 0; j < bytes.length; j++) {
      state = (state * 1664525 + 1013904223) >>> 0;
      bytes[j] = j < 0x50 || j % 97 === 0 ? state >>> 24 : 0;
    }
    bytes.set(SPARSE_MAGIC);
    const outcome = await openImage(new MemorySource('r', bytes)).then(
      async (image) => {
        await image.close();
        return 'ok';
      },
      (error: unknown) => error,
    );
    if (outcome !== 'ok') {
      expect(outcome).toBeInstanceOf(DiskError);
      expect((outcome as DiskError).code).not.toBe('INTERNAL');
    }
  }
});
