/**
 * EFI loaders on FAT ESPs made by the real tools (mkfs.fat + mtools, with mshowfat naming the clusters the
 * hostile copies damage), and LUKS / BitLocker / JFS signatures built by hand from their layouts, with blkid as
 * the oracle for what a real prober makes of the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskError } from '../src/errors.js';
import { FatLimits } from '../src/filesystems/fat.js';
import { detectFilesystem, findEfiLoaders } from '../src/filesystems/index.js';
import type { EspContents, Filesystem } from '../src/filesystems/index.js';
import type { DiskImage } from '../src/image/types.js';
import { openImage } from '../src/open.js';
import { readPartitionTable } from '../src/partitions/index.js';
import { MemorySource } from '../src/source/memory.js';
import { fixture, runVolumeMutants } from './helpers.js';

const MiB = 1024 * 1024;
const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

const X64 = 0x8664;
const AA64 = 0xaa64;

let dir: string;

/** A minimal PE image: "MZ", e_lfanew, "PE\0\0" and the COFF Machine field; nothing else is needed to say the CPU. */
function pe(machine: number, size = 512, peOffset = 0x40): Buffer {
  const bytes = Buffer.alloc(size);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(peOffset, 0x3c);
  bytes.write('PE\0\0', peOffset, 'latin1');
  bytes.writeUInt16LE(machine, peOffset + 4);
  return bytes;
}

interface EspSpec {
  bits: 12 | 16 | 32;
  size: number;
  dirs?: string[];
  files?: [string, Uint8Array][];
  /** Files copied into a folder in one mcopy call (fills a directory across several clusters). */
  fill?: { into: string; count: number };
}

/** Makes a FAT volume with mkfs.fat and fills it with mtools; returns the image path. */
function makeEsp(name: string, spec: EspSpec): string {
  const path = join(dir, `${name}.img`);
  execFileSync('truncate', ['-s', String(spec.size), path]);
  execFileSync('mkfs.fat', ['-F', String(spec.bits), path], { stdio: 'ignore' });
  if (spec.dirs?.length) mtools('mmd', ['-i', path, ...spec.dirs.map((d) => `::/${d}`)]);
  if (spec.fill) {
    const fillers = join(dir, `${name}-fill`);
    mkdirSync(fillers);
    const names = Array.from({ length: spec.fill.count }, (_, i) => join(fillers, `F${String(i).padStart(4, '0')}.TXT`));
    for (const file of names) writeFileSync(file, 'x');
    mtools('mcopy', ['-i', path, ...names, `::/${spec.fill.into}/`]);
  }
  for (const [target, bytes] of spec.files ?? []) {
    const source = join(dir, `${name}-file`);
    writeFileSync(source, bytes);
    mtools('mcopy', ['-i', path, source, `::/${target}`]);
  }
  return path;
}

function mtools(tool: string, args: string[]): string {
  return execFileSync(tool, args, { env: MTOOLS_ENV, encoding: 'utf8' });
}

/** mshowfat prints a file's or folder's cluster chain, e.g. "::/EFI/BOOT <3>" or "<5-7>"; the first cluster. */
function firstCluster(path: string, name: string): number {
  const out = mtools('mshowfat', ['-i', path, `::/${name}`]);
  return Number(/<(\d+)/.exec(out)![1]);
}

/** The BPB facts a test needs to damage a volume, read here independently of src/. */
function layoutOf(bytes: Buffer) {
  const bps = bytes.readUInt16LE(0x0b);
  const spc = bytes[0x0d]!;
  const reserved = bytes.readUInt16LE(0x0e);
  const fats = bytes[0x10]!;
  const rootEntries = bytes.readUInt16LE(0x11);
  const fatSize = bytes.readUInt16LE(0x16) || bytes.readUInt32LE(0x24);
  const total = bytes.readUInt16LE(0x13) || bytes.readUInt32LE(0x20);
  const rootSectors = Math.ceil((rootEntries * 32) / bps);
  const dataSector = reserved + fats * fatSize + rootSectors;
  const clusters = Math.floor((total - dataSector) / spc);
  return {
    clusterBytes: bps * spc,
    fatOffset: reserved * bps,
    rootOffset: (reserved + fats * fatSize) * bps,
    clusters,
    bits: clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32,
    clusterOffset: (cluster: number) => (dataSector + (cluster - 2) * spc) * bps,
  };
}

/** Sets a FAT16 or FAT32 entry in the first FAT (the only one the reader uses). */
function setFat(bytes: Buffer, cluster: number, value: number): void {
  const layout = layoutOf(bytes);
  if (layout.bits === 16) bytes.writeUInt16LE(value, layout.fatOffset + cluster * 2);
  else if (layout.bits === 32) bytes.writeUInt32LE(value, layout.fatOffset + cluster * 4);
  else throw new Error('setFat: FAT16/32 only');
}

/** A plain 8.3 file entry that matches no loader name: what a crowded directory holds. */
function fillerEntry(n: number): Buffer {
  const entry = Buffer.alloc(32);
  entry.write(`FILL${String(n % 10000).padStart(4, '0')}TXT`, 0, 'latin1');
  entry[11] = 0x20;
  return entry;
}

/** Writes filler entries from `from` to the end of a cluster, so the directory has no end marker there. */
function fillCluster(bytes: Buffer, cluster: number, from = 0, seed = 0): void {
  const layout = layoutOf(bytes);
  const base = layout.clusterOffset(cluster);
  for (let at = from; at < layout.clusterBytes; at += 32) fillerEntry(seed + at / 32).copy(bytes, base + at);
}

/** Offset of the first used entry slot after the last used one in a directory cluster (its end marker). */
function endOfEntries(bytes: Buffer, cluster: number): number {
  const layout = layoutOf(bytes);
  const base = layout.clusterOffset(cluster);
  let at = 0;
  while (at < layout.clusterBytes && bytes[base + at] !== 0) at += 32;
  return at;
}

/** Finds an 11-byte short name with the given attribute byte inside [from, to); the entry's offset. */
function findEntry(bytes: Buffer, shortName: string, from: number, to: number): number {
  for (let at = from; at + 32 <= to; at += 32) {
    if (bytes.toString('latin1', at, at + 11) === shortName) return at;
  }
  throw new Error(`no entry ${shortName}`);
}

interface Counted {
  image: DiskImage;
  reads: [number, number][];
}

/** An image over bytes in memory whose reads are recorded. */
async function memoryImage(bytes: Uint8Array): Promise<Counted> {
  const image = await openImage(new MemorySource('esp', bytes), { format: 'raw' });
  const reads: [number, number][] = [];
  const spy: DiskImage = { ...image, read: (offset, length) => (reads.push([offset, length]), image.read(offset, length)) };
  return { image: spy, reads };
}

async function espOf(bytes: Uint8Array, size = bytes.length): Promise<EspContents> {
  const { image } = await memoryImage(bytes);
  return findEfiLoaders(image, 0, size);
}

async function espOfFile(path: string): Promise<{ esp: EspContents; reads: [number, number][]; fs: Filesystem | null }> {
  const bytes = readFileSync(path);
  const { image, reads } = await memoryImage(bytes);
  const esp = await findEfiLoaders(image, 0, bytes.length);
  return { esp, reads: reads.slice(), fs: await detectFilesystem(image, 0, bytes.length) };
}

const sum = (reads: [number, number][]) => reads.reduce((total, [, length]) => total + length, 0);

/** The tree every FAT-type test uses: two PE loaders, two vendor folders, one nested deeper. */
const STANDARD_TREE: Omit<EspSpec, 'bits' | 'size'> = {
  dirs: ['EFI', 'EFI/BOOT', 'EFI/ubuntu', 'EFI/Microsoft', 'EFI/Microsoft/Boot'],
  files: [
    ['EFI/BOOT/BOOTX64.EFI', pe(X64)],
    ['EFI/BOOT/BOOTAA64.EFI', pe(AA64)],
    ['EFI/ubuntu/shimx64.efi', pe(X64)],
    ['EFI/ubuntu/grub.cfg', Buffer.from('search --fs-uuid\n')],
    ['EFI/Microsoft/Boot/bootmgfw.efi', pe(X64)],
  ],
};

const STANDARD_LOADERS = [
  { path: 'EFI/BOOT/BOOTX64.EFI', size: 512, architecture: 'x86_64', peMachine: X64 },
  { path: 'EFI/BOOT/BOOTAA64.EFI', size: 512, architecture: 'arm64', peMachine: AA64 },
];

const images: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskport-fat-'));
  images.fat12 = makeEsp('fat12', { bits: 12, size: 4 * MiB, ...STANDARD_TREE });
  images.fat16 = makeEsp('fat16', { bits: 16, size: 32 * MiB, ...STANDARD_TREE });
  images.fat32 = makeEsp('fat32', { bits: 32, size: 64 * MiB, ...STANDARD_TREE });
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('ESPs made by mkfs.fat and mtools', () => {
  it.each([
    ['fat12', 'FAT12'],
    ['fat16', 'FAT16'],
    ['fat32', 'FAT32'],
  ])('%s: both loaders with their PE machines, the vendor folders, a few KiB read', async (name, fatType) => {
    const { esp, reads, fs } = await espOfFile(images[name]!);
    expect(fs).toMatchObject({ type: 'vfat', fatType });
    expect(esp).toEqual({ loaders: STANDARD_LOADERS, vendors: ['BOOT', 'ubuntu', 'Microsoft'] });
    for (const [offset, length] of reads) expect(offset + length).toBeLessThanOrEqual(readFileSync(images[name]!).length);
  });

  it.each(['fat12', 'fat16', 'fat32'])('%s: the walk (detection included) reads under 16 KiB', async (name) => {
    const bytes = readFileSync(images[name]!);
    const { image, reads } = await memoryImage(bytes);
    await findEfiLoaders(image, 0, bytes.length);
    expect(sum(reads)).toBeLessThanOrEqual(16 * 1024);
    expect(reads.length).toBeLessThanOrEqual(12);
  });

  it('names in any case: NT lower-case short names, mixed-case and over-long VFAT names', async () => {
    const path = makeEsp('names', {
      bits: 16,
      size: 32 * MiB,
      dirs: ['efi', 'efi/boot', 'efi/Fedora'],
      files: [
        ['efi/boot/bootx64.efi', pe(X64)],
        ['efi/boot/BootAA64.efi', pe(AA64)],
        // Not 8.3: only the long name says what it is; not PE either, so the name decides.
        ['efi/boot/BOOTRISCV64.EFI', Buffer.from('not a PE file')],
      ],
    });
    // mtools stores the first in 8.3 with NT's lower-case flags and the others with long-name entries.
    expect(mtools('mdir', ['-i', path, '::/efi/boot'])).toContain('BOOTRI~1 EFI');
    const { esp } = await espOfFile(path);
    expect(esp).toEqual({
      loaders: [
        { path: 'efi/boot/bootx64.efi', size: 512, architecture: 'x86_64', peMachine: X64 },
        { path: 'efi/boot/BootAA64.efi', size: 512, architecture: 'arm64', peMachine: AA64 },
        { path: 'efi/boot/BOOTRISCV64.EFI', size: 13, architecture: 'riscv64' },
      ],
      vendors: ['boot', 'Fedora'],
    });
  });

  it('an ESP without \\EFI\\BOOT lists the vendors and no loaders; one without \\EFI lists nothing', async () => {
    const vendorsOnly = makeEsp('no-boot', {
      bits: 32,
      size: 64 * MiB,
      dirs: ['EFI', 'EFI/ubuntu', 'EFI/Microsoft'],
      files: [['EFI/ubuntu/shimx64.efi', pe(X64)]],
    });
    expect((await espOfFile(vendorsOnly)).esp).toEqual({ loaders: [], vendors: ['ubuntu', 'Microsoft'] });
    const empty = makeEsp('empty', { bits: 12, size: 4 * MiB });
    expect((await espOfFile(empty)).esp).toEqual({ loaders: [], vendors: [] });
    // A BOOT file (not a folder) under EFI is not the fallback folder.
    const bootFile = makeEsp('boot-file', { bits: 12, size: 4 * MiB, dirs: ['EFI'], files: [['EFI/BOOT', pe(X64)]] });
    expect((await espOfFile(bootFile)).esp).toEqual({ loaders: [], vendors: [] });
  });

  it('the PE header overrides the name; no PE keeps the name; unknown machines give null', async () => {
    const path = makeEsp('pe-cases', {
      bits: 12,
      size: 4 * MiB,
      dirs: ['EFI', 'EFI/BOOT'],
      files: [
        ['EFI/BOOT/BOOTX64.EFI', pe(AA64)],
        ['EFI/BOOT/BOOTIA32.EFI', Buffer.from('MZ but no PE header follows')],
        ['EFI/BOOT/BOOTAA64.EFI', pe(0x0200)], // IA-64
        ['EFI/BOOT/BOOTARM.EFI', Buffer.alloc(0)],
      ],
    });
    expect((await espOfFile(path)).esp.loaders).toEqual([
      { path: 'EFI/BOOT/BOOTX64.EFI', size: 512, architecture: 'arm64', peMachine: AA64 },
      { path: 'EFI/BOOT/BOOTIA32.EFI', size: 27, architecture: 'i386' },
      { path: 'EFI/BOOT/BOOTAA64.EFI', size: 512, architecture: null, peMachine: 0x0200 },
      { path: 'EFI/BOOT/BOOTARM.EFI', size: 0, architecture: 'arm' },
    ]);
  });

  it.each([12, 32] as const)(
    'FAT%i: a crowded BOOT folder across clusters, and a PE header past the first cluster',
    async (bits) => {
      // 8 KiB loader with its PE header at 3.5 KiB: on 512-byte clusters the reader follows the file's chain.
      const path = makeEsp(`crowded${bits}`, {
        bits,
        size: (bits === 12 ? 4 : 64) * MiB,
        dirs: ['EFI', 'EFI/BOOT'],
        fill: { into: 'EFI/BOOT', count: 150 },
        files: [['EFI/BOOT/BOOTX64.EFI', pe(X64, 8192, 0xe00)]],
      });
      const bytes = readFileSync(path);
      const clusters = mtools('mshowfat', ['-i', path, '::/EFI/BOOT']);
      // The folder really spans several clusters, so the FAT entries were followed.
      expect(clusters).toMatch(/<\d+-\d+>|> </);
      expect(layoutOf(bytes).bits).toBe(bits);
      expect((await espOfFile(path)).esp).toEqual({
        loaders: [{ path: 'EFI/BOOT/BOOTX64.EFI', size: 8192, architecture: 'x86_64', peMachine: X64 }],
        vendors: ['BOOT'],
      });
    },
  );
});

describe('the fixture disk', () => {
  it('gpt-uefi.raw: the ESP in partition 2 holds \\EFI\\BOOT\\BOOTX64.EFI (not a PE file, so named x86_64)', async () => {
    const image = await openImage(fixture('gpt-uefi.raw'));
    try {
      const table = await readPartitionTable(image);
      const esp = table.partitions.find((p) => p.start === 4096 * 512)!;
      expect(esp.index).toBe(2);
      expect(await findEfiLoaders(image, esp.start, esp.size)).toEqual({
        loaders: [{ path: 'EFI/BOOT/BOOTX64.EFI', size: 'MZ fake loader\n'.length, architecture: 'x86_64' }],
        vendors: ['BOOT'],
      });
      // The ext4 partition is no ESP: nothing is found and nothing thrown.
      const linux = table.partitions.find((p) => p.index === 3)!;
      expect(await findEfiLoaders(image, linux.start, linux.size)).toEqual({ loaders: [], vendors: [] });
    } finally {
      await image.close();
    }
  });
});

describe('hostile volumes', () => {
  let base: Buffer;
  let boot: number;
  let loader: number;
  const EXPECTED = { loaders: [STANDARD_LOADERS[0]], vendors: ['BOOT', 'ubuntu'] };

  beforeAll(() => {
    const path = makeEsp('hostile', {
      bits: 16,
      size: 32 * MiB,
      dirs: ['EFI', 'EFI/BOOT', 'EFI/ubuntu'],
      files: [['EFI/BOOT/BOOTX64.EFI', pe(X64)]],
    });
    base = readFileSync(path);
    boot = firstCluster(path, 'EFI/BOOT');
    loader = firstCluster(path, 'EFI/BOOT/BOOTX64.EFI');
  });

  /** A copy of the volume with BOOT's cluster filled to the end, so only the FAT says where the folder ends. */
  function unterminated(): Buffer {
    const bytes = Buffer.from(base);
    fillCluster(bytes, boot, endOfEntries(bytes, boot));
    return bytes;
  }

  /** Runs the walk with a stopwatch and a read counter. */
  async function timed(bytes: Buffer) {
    const { image, reads } = await memoryImage(bytes);
    const started = performance.now();
    const esp = await findEfiLoaders(image, 0, bytes.length);
    return { esp, ms: performance.now() - started, bytesRead: sum(reads) };
  }

  it('the untouched copy finds the loader', async () => {
    expect(await espOf(base)).toEqual(EXPECTED);
  });

  it('a cluster chain that loops on itself, or through another cluster, ends', async () => {
    const self = unterminated();
    setFat(self, boot, boot);
    const run = await timed(self);
    expect(run.esp).toEqual(EXPECTED);
    expect(run.bytesRead).toBeLessThan(64 * 1024);

    const pair = unterminated();
    const other = layoutOf(pair).clusters - 100; // far from anything mtools allocated
    fillCluster(pair, other, 0, 1000);
    setFat(pair, boot, other);
    setFat(pair, other, boot);
    expect((await timed(pair)).esp).toEqual(EXPECTED);
  });

  it('a chain pointing past the last cluster, or a BOOT folder starting there, stops the walk', async () => {
    const pastEnd = unterminated();
    setFat(pastEnd, boot, layoutOf(pastEnd).clusters + 10);
    expect(await espOf(pastEnd)).toEqual(EXPECTED);

    const bootPastEnd = Buffer.from(base);
    const layout = layoutOf(bootPastEnd);
    const efi = firstCluster(join(dir, 'hostile.img'), 'EFI');
    const entry = findEntry(bootPastEnd, 'BOOT       ', layout.clusterOffset(efi), layout.clusterOffset(efi) + layout.clusterBytes);
    bootPastEnd.writeUInt16LE(0xfff0, entry + 26);
    expect(await espOf(bootPastEnd)).toEqual({ loaders: [], vendors: ['BOOT', 'ubuntu'] });
  });

  it('a loader whose data lies past the volume is reported by its name, without a PE machine', async () => {
    const bytes = Buffer.from(base);
    const layout = layoutOf(bytes);
    const entry = findEntry(bytes, 'BOOTX64 EFI', layout.clusterOffset(boot), layout.clusterOffset(boot) + layout.clusterBytes);
    expect(bytes.readUInt16LE(entry + 26)).toBe(loader);
    bytes.writeUInt16LE(layout.clusters + 1, entry + 26); // the last cluster: valid, but ...
    const shortVolume = layout.clusterOffset(layout.clusters + 1); // ... the volume handed over ends before it
    const { image } = await memoryImage(bytes);
    expect(await findEfiLoaders(image, 0, shortVolume)).toEqual({
      loaders: [{ path: 'EFI/BOOT/BOOTX64.EFI', size: 512, architecture: 'x86_64' }],
      vendors: ['BOOT', 'ubuntu'],
    });
  });

  it(`a directory longer than ${FatLimits.maxDirectoryEntries} entries is read only that far`, async () => {
    const bytes = unterminated();
    const layout = layoutOf(bytes);
    const perCluster = layout.clusterBytes / 32;
    // A 400-cluster chain of filler entries (tens of thousands), ending in a loop back to its start.
    const chain = Array.from({ length: 400 }, (_, i) => layout.clusters - 1000 + i);
    expect(chain.length * perCluster).toBeGreaterThan(2 * FatLimits.maxDirectoryEntries);
    setFat(bytes, boot, chain[0]!);
    chain.forEach((cluster, i) => {
      fillCluster(bytes, cluster, 0, i * perCluster);
      setFat(bytes, cluster, chain[i + 1] ?? boot);
    });
    const early = await timed(bytes);
    expect(early.esp).toEqual(EXPECTED);
    expect(early.ms).toBeLessThan(100);
    // The limit's bytes, the boot sector, the other folders and the FAT sectors on the way; never the 800 KiB chain.
    expect(early.bytesRead).toBeLessThan(FatLimits.maxDirectoryEntries * 32 + 64 * 1024);

    // The same loader entry moved past the limit is not reached.
    const late = Buffer.from(bytes);
    const entry = findEntry(late, 'BOOTX64 EFI', layout.clusterOffset(boot), layout.clusterOffset(boot) + layout.clusterBytes);
    const lastCluster = chain[chain.length - 1]!;
    late.copy(late, layout.clusterOffset(lastCluster), entry, entry + 32);
    fillerEntry(99).copy(late, entry);
    expect((await timed(late)).esp).toEqual({ loaders: [], vendors: ['BOOT', 'ubuntu'] });
    // Under the limit it is found: moved instead into the chain's third cluster.
    const reachable = Buffer.from(bytes);
    reachable.copy(reachable, layout.clusterOffset(chain[2]!), entry, entry + 32);
    fillerEntry(99).copy(reachable, entry);
    expect((await timed(reachable)).esp).toEqual(EXPECTED);
  });

  it('impossible geometry gives nothing: 0 sectors per cluster, sector sizes 1000 and 8192, no FAT at all', async () => {
    const zeroCluster = Buffer.from(base);
    zeroCluster[0x0d] = 0;
    expect(await espOf(zeroCluster)).toEqual({ loaders: [], vendors: [] });
    for (const sectorSize of [1000, 8192, 256]) {
      const bad = Buffer.from(base);
      bad.writeUInt16LE(sectorSize, 0x0b);
      expect(await espOf(bad)).toEqual({ loaders: [], vendors: [] });
    }
    expect(await espOf(new Uint8Array(64 * 1024))).toEqual({ loaders: [], vendors: [] });
    expect(await espOf(new Uint8Array(100))).toEqual({ loaders: [], vendors: [] });
    // A volume range cut short inside the FAT: the walk reads nothing past it.
    const { image, reads } = await memoryImage(base);
    expect(await findEfiLoaders(image, 0, 4096)).toEqual({ loaders: [], vendors: [] });
    for (const [offset, length] of reads) expect(offset + length).toBeLessThanOrEqual(4096);
  });

  it('a read the image refuses throws its DiskError', async () => {
    const { image } = await memoryImage(base);
    const refusing: DiskImage = {
      ...image,
      read: async () => {
        throw new DiskError('IO_ERROR', 'refused');
      },
    };
    await expect(findEfiLoaders(refusing, 0, base.length)).rejects.toMatchObject({ code: 'IO_ERROR' });
  });

  it('1200 mutants of boot sector, FAT, root and both folders: results or DiskErrors only, each under 100 ms', async () => {
    const targets = [
      { name: 'hostile', bytes: Buffer.from(base) },
      { name: 'fat12', bytes: readFileSync(images.fat12!) },
      { name: 'fat32', bytes: readFileSync(images.fat32!) },
    ].map(({ name, bytes }) => {
      const path = name === 'hostile' ? join(dir, 'hostile.img') : images[name]!;
      const layout = layoutOf(bytes);
      const cluster = (c: number): [number, number] => [layout.clusterOffset(c), layout.clusterOffset(c) + layout.clusterBytes];
      const root: [number, number] =
        layout.bits === 32 ? cluster(bytes.readUInt32LE(0x2c)) : [layout.rootOffset, layout.rootOffset + 512];
      const regions: [number, number][] = [
        [0, 512],
        [layout.fatOffset, layout.fatOffset + 512],
        root,
        cluster(firstCluster(path, 'EFI')),
        cluster(firstCluster(path, 'EFI/BOOT')),
      ];
      return { bytes, regions };
    });
    const { outcomes, slowestMs } = await runVolumeMutants(targets, 1200, 0xfa7, async (image, size) => {
      const esp = await findEfiLoaders(image, 0, size);
      return `${esp.loaders.length} loaders, ${esp.vendors.length} vendors`;
    });
    expect(slowestMs).toBeLessThan(100);
    // Most damage leaves the loaders findable; some of it loses them (the mutants do reach the parser).
    expect(outcomes.get('2 loaders, 3 vendors') ?? 0).toBeGreaterThan(200);
    expect(outcomes.size).toBeGreaterThan(2);
  });
});

describe('encrypted volumes and JFS, built from their layouts', () => {
  /** blkid's low-level probe of a file, as KEY=value pairs; {} when it finds nothing. */
  function blkid(bytes: Uint8Array): Record<string, string> {
    const path = join(dir, 'probe.img');
    writeFileSync(path, bytes);
    let out = '';
    try {
      out = execFileSync('blkid', ['-o', 'export', '-p', path], { encoding: 'utf8' });
    } catch {
      return {}; // exit status 2: nothing found
    }
    return Object.fromEntries(out.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]));
  }

  async function detect(bytes: Uint8Array): Promise<Filesystem | null> {
    const image = await openImage(new MemorySource('volume', bytes), { format: 'raw' });
    return detectFilesystem(image, 0, bytes.length);
  }

  const LUKS_UUID = '0b7e2c2a-5f43-4a8e-9d7e-3c1f2b4a6d88';

  /** LUKS1 phdr (LUKS1 on-disk format spec): magic, version 1, cipher, mode, hash, payload offset, uuid at 0xA8. */
  function luks1(): Buffer {
    const bytes = Buffer.alloc(1 * MiB);
    bytes.write('LUKS\xba\xbe', 0, 'latin1');
    bytes.writeUInt16BE(1, 6);
    bytes.write('aes', 8, 'latin1');
    bytes.write('xts-plain64', 40, 'latin1');
    bytes.write('sha256', 72, 'latin1');
    bytes.writeUInt32BE(4096, 104); // payload offset, sectors
    bytes.writeUInt32BE(64, 108); // key bytes
    bytes.writeUInt32BE(1000, 164); // digest iterations
    bytes.write(LUKS_UUID, 0xa8, 'latin1');
    return bytes;
  }

  /** LUKS2 binary header (LUKS2 on-disk format): version 2, header size, label at 0x18, uuid at 0xA8, offset 0. */
  function luks2(label: string): Buffer {
    const bytes = Buffer.alloc(1 * MiB);
    bytes.write('LUKS\xba\xbe', 0, 'latin1');
    bytes.writeUInt16BE(2, 6);
    bytes.writeBigUInt64BE(16384n, 8); // hdr_size
    bytes.writeBigUInt64BE(3n, 16); // seqid
    bytes.write(label, 0x18, 'latin1');
    bytes.write('sha256', 0x48, 'latin1');
    bytes.write(LUKS_UUID, 0xa8, 'latin1');
    bytes.writeBigUInt64BE(0n, 0x100); // hdr_offset: the primary header sits at 0
    bytes.write('{"keyslots":{}}', 4096, 'latin1');
    return bytes;
  }

  it('LUKS1: crypto_LUKS with its UUID, as blkid says', async () => {
    const bytes = luks1();
    const oracle = blkid(bytes);
    expect(oracle).toMatchObject({ TYPE: 'crypto_LUKS', UUID: LUKS_UUID, VERSION: '1' });
    expect(await detect(bytes)).toEqual({ type: 'crypto_LUKS', uuid: LUKS_UUID, version: 1 });
  });

  it('LUKS2: crypto_LUKS with UUID and label; version 0 or 3 is not LUKS', async () => {
    const bytes = luks2('cryptroot');
    expect(blkid(bytes)).toMatchObject({ TYPE: 'crypto_LUKS', UUID: LUKS_UUID, LABEL: 'cryptroot', VERSION: '2' });
    expect(await detect(bytes)).toEqual({ type: 'crypto_LUKS', uuid: LUKS_UUID, label: 'cryptroot', version: 2 });

    for (const version of [0, 3]) {
      const other = luks2('x');
      other.writeUInt16BE(version, 6);
      expect(await detect(other)).toBeNull();
    }
  });

  it('LUKS before everything else: an ext superblock behind a LUKS header does not win', async () => {
    const bytes = luks1();
    bytes.writeUInt16LE(0xef53, 1024 + 0x38);
    expect((await detect(bytes))!.type).toBe('crypto_LUKS');
  });

  /** A FAT32 boot sector as mkfs.fat writes it: the BPB BitLocker keeps so old systems see a volume. */
  function fat32Boot(): Buffer {
    return Buffer.from(readFileSync(images.fat32!).subarray(0, 1 * MiB));
  }

  it('BitLocker (Vista): "-FVE-FS-" at 3 is BitLocker, as blkid says', async () => {
    const bytes = Buffer.alloc(1 * MiB);
    bytes.set([0xeb, 0x52, 0x90], 0);
    bytes.write('-FVE-FS-', 3, 'latin1');
    bytes.writeUInt16LE(512, 0x0b);
    bytes.writeUInt16LE(0xaa55, 0x1fe);
    expect(blkid(bytes).TYPE).toBe('BitLocker');
    expect(await detect(bytes)).toEqual({ type: 'BitLocker' });
  });

  it('BitLocker (7+): a FAT32-valid boot sector with "-FVE-FS-" is BitLocker, not vfat, and is not walked', async () => {
    const whole = readFileSync(images.fat32!);
    whole.write('-FVE-FS-', 3, 'latin1');
    expect((await detect(whole))!.type).toBe('BitLocker');
    // The same volume with its own OEM id has loaders; as BitLocker its (encrypted) contents are not read.
    expect(await findEfiLoaders((await memoryImage(whole)).image, 0, whole.length)).toEqual({ loaders: [], vendors: [] });
    const bytes = fat32Boot();
    expect((await detect(bytes))!.type).toBe('vfat');
    bytes.write('-FVE-FS-', 3, 'latin1');
    // The FVE metadata block the boot sector points at (at 176), which blkid checks too.
    bytes.writeBigUInt64LE(0x10000n, 176);
    bytes.write('-FVE-FS-', 0x10000, 'latin1');
    bytes.writeUInt16LE(2, 0x10000 + 10); // metadata version
    expect(blkid(bytes)).toMatchObject({ TYPE: 'BitLocker', VERSION: '2' });
    expect(await detect(bytes)).toEqual({ type: 'BitLocker' });
  });

  it('BitLocker To Go: "MSWIN4.1" and FVE metadata where the sector points; without the metadata it is FAT32', async () => {
    const bytes = fat32Boot();
    bytes.write('MSWIN4.1', 3, 'latin1');
    bytes.writeBigUInt64LE(0x20000n, 440);
    expect((await detect(bytes))!.type).toBe('vfat');
    bytes.write('-FVE-FS-', 0x20000, 'latin1');
    bytes.writeUInt16LE(2, 0x20000 + 10);
    expect(blkid(bytes).TYPE).toBe('BitLocker');
    expect(await detect(bytes)).toEqual({ type: 'BitLocker' });
    // Pointing past the volume is no evidence (and no read past it).
    bytes.writeBigUInt64LE(BigInt(64 * MiB), 440);
    expect((await detect(bytes))!.type).toBe('vfat');
  });

  /** JFS superblock at 32 KiB (linux fs/jfs/jfs_superblock.h): sizes in bytes and log2, uuid 0x88, label 0x98. */
  function jfs(): Buffer {
    const bytes = Buffer.alloc(16 * MiB); // blkid probes JFS only on volumes of 16 MiB or more
    const sb = 32 * 1024;
    bytes.write('JFS1', sb, 'latin1');
    bytes.writeUInt32LE(2, sb + 4); // version
    bytes.writeBigUInt64LE(BigInt((16 * MiB) / 512), sb + 8);
    bytes.writeUInt32LE(4096, sb + 16);
    bytes.writeUInt16LE(12, sb + 20);
    bytes.writeUInt16LE(3, sb + 22); // log2(4096 / 512)
    bytes.writeUInt32LE(512, sb + 24);
    bytes.writeUInt16LE(9, sb + 28);
    Buffer.from('5d1f6c7e8a9b4c0d9e1f2a3b4c5d6e7f', 'hex').copy(bytes, sb + 0x88);
    bytes.write('jfsroot', sb + 0x98, 'latin1');
    return bytes;
  }

  it('JFS: magic at 32 KiB, label and UUID where blkid reads them; inconsistent sizes are not JFS', async () => {
    const bytes = jfs();
    expect(blkid(bytes)).toMatchObject({ TYPE: 'jfs', LABEL: 'jfsroot', UUID: '5d1f6c7e-8a9b-4c0d-9e1f-2a3b4c5d6e7f' });
    expect(await detect(bytes)).toEqual({ type: 'jfs', label: 'jfsroot', uuid: '5d1f6c7e-8a9b-4c0d-9e1f-2a3b4c5d6e7f' });
    const inconsistent = jfs();
    inconsistent.writeUInt16LE(2, 32 * 1024 + 22); // block factor no longer log2(4096 / 512)
    expect(blkid(inconsistent).TYPE).toBeUndefined();
    expect(await detect(inconsistent)).toBeNull();
    const huge = jfs();
    huge.writeUInt16LE(40, 32 * 1024 + 20); // 2^40-byte blocks
    expect(await detect(huge)).toBeNull();
    // A volume ending before the superblock does not read past its end.
    const image = await openImage(new MemorySource('short', bytes), { format: 'raw' });
    expect(await detectFilesystem(image, 0, 32 * 1024 + 100)).toBeNull();
  });
});
