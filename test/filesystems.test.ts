/**
 * File-system detection against volumes made by the real mkfs tools, with blkid as the oracle for type, label
 * and UUID. LVM2 (pvcreate needs a block device), exFAT and ISO 9660 (no mkfs.exfat / genisoimage / xorriso in
 * the toolchain) are built here byte by byte from the facts in formats.md section 8 and their specs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskError } from '../src/errors.js';
import { detectFilesystem } from '../src/filesystems/index.js';
import type { Filesystem } from '../src/filesystems/index.js';
import type { DiskImage } from '../src/image/types.js';
import { openImage } from '../src/open.js';
import { readPartitionTable } from '../src/partitions/index.js';
import { MemorySource } from '../src/source/memory.js';
import { fixture, mutate, seeded } from './helpers.js';

const MiB = 1024 * 1024;

interface Made {
  path: string;
  size: number;
  expected: Partial<Filesystem> & { type: Filesystem['type'] };
}

let dir: string;
const made: Record<string, Made> = {};

/** Runs a tool quietly; its output is not the oracle (blkid is). */
function run(tool: string, args: string[]): void {
  execFileSync(tool, args, { stdio: 'ignore' });
}

function makeVolume(name: string, size: number, tool: string, args: string[], expected: Made['expected']): void {
  const path = join(dir, `${name}.img`);
  run('truncate', ['-s', String(size), path]);
  run(tool, [...args, path]);
  made[name] = { path, size, expected };
}

/** blkid's low-level probe of a file (or of a volume at `offset` inside it), as KEY=value pairs. */
function blkid(path: string, offset = 0): Record<string, string> {
  const out = execFileSync('blkid', ['-o', 'export', '-p', '-O', String(offset), path], { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]));
}

/** Opens a file as RAW and detects the file system covering all of it. */
async function detectFile(path: string, start = 0, size?: number): Promise<Filesystem | null> {
  const image = await openImage(path, { format: 'raw' });
  try {
    return await detectFilesystem(image, start, size ?? image.virtualSize!);
  } finally {
    await image.close();
  }
}

async function detectBytes(bytes: Uint8Array, size = bytes.length): Promise<Filesystem | null> {
  const image = await openImage(new MemorySource('bytes', bytes), { format: 'raw' });
  return detectFilesystem(image, 0, size);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskport-fs-'));
  makeVolume('fat12', 4 * MiB, 'mkfs.fat', ['-F', '12', '-n', 'FAT12LBL'], { type: 'vfat', fatType: 'FAT12', label: 'FAT12LBL' });
  makeVolume('fat16', 32 * MiB, 'mkfs.fat', ['-F', '16', '-n', 'FAT16LBL'], { type: 'vfat', fatType: 'FAT16', label: 'FAT16LBL' });
  makeVolume('fat32', 64 * MiB, 'mkfs.fat', ['-F', '32', '-n', 'FAT32LBL'], { type: 'vfat', fatType: 'FAT32', label: 'FAT32LBL' });
  for (const version of ['ext2', 'ext3', 'ext4'] as const) {
    makeVolume(version, 8 * MiB, 'mke2fs', ['-q', '-t', version, '-F', '-L', `${version}-label`], {
      type: version,
      label: `${version}-label`,
      size: 8 * MiB,
    });
  }
  makeVolume('ntfs', 16 * MiB, 'mkntfs', ['-F', '-Q', '-L', 'NTFSLBL'], { type: 'ntfs' });
  makeVolume('xfs', 320 * MiB, 'mkfs.xfs', ['-q', '-f', '-L', 'xfslabel'], { type: 'xfs', label: 'xfslabel', size: 320 * MiB });
  makeVolume('btrfs', 128 * MiB, 'mkfs.btrfs', ['-q', '-f', '-L', 'btrfs-label'], {
    type: 'btrfs',
    label: 'btrfs-label',
    size: 128 * MiB,
  });
  makeVolume('swap', 8 * MiB, 'mkswap', ['-q', '-L', 'swaplabel'], { type: 'swap', label: 'swaplabel', size: 8 * MiB });
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('volumes made by the real tools', () => {
  const names = ['fat12', 'fat16', 'fat32', 'ext2', 'ext3', 'ext4', 'ntfs', 'xfs', 'btrfs', 'swap'];
  it.each(names)('%s: type, label, size and uuid as blkid sees them', async (name) => {
    const volume = made[name]!;
    const found = await detectFile(volume.path);
    expect(found).toMatchObject(volume.expected);
    const oracle = blkid(volume.path);
    expect(found!.type).toBe(oracle.TYPE);
    expect(found!.uuid).toBe(oracle.UUID);
    // The NTFS label lives in the $Volume MFT record, not the boot sector, so detection does not report it.
    expect(found!.label).toBe(name === 'ntfs' ? undefined : oracle.LABEL);
    if (oracle.VERSION?.startsWith('FAT')) expect(found!.fatType).toBe(oracle.VERSION);
  });

  it('FAT sizes come from the BPB, NTFS from its sector count', async () => {
    expect((await detectFile(made.fat16!.path))!.size).toBe(32 * MiB);
    // mkntfs leaves the last sector for the backup boot sector outside TotalSectors.
    expect((await detectFile(made.ntfs!.path))!.size).toBe(16 * MiB - 512);
  });

  it('reads only inside the volume, and little of it', async () => {
    for (const name of names) {
      const image = await openImage(made[name]!.path, { format: 'raw' });
      const reads: [number, number][] = [];
      const spy: DiskImage = { ...image, read: (offset, length) => (reads.push([offset, length]), image.read(offset, length)) };
      const size = made[name]!.size;
      await detectFilesystem(spy, 0, size);
      await image.close();
      for (const [offset, length] of reads) expect(offset + length).toBeLessThanOrEqual(size);
      expect(reads.reduce((sum, [, length]) => sum + length, 0)).toBeLessThanOrEqual(8192);
    }
  });
});

describe('file systems inside partitioned disks', () => {
  it('gpt-uefi.raw: FAT32 ESP at sector 4096 and ext4 in partition 3', async () => {
    const image = await openImage(fixture('gpt-uefi.raw'));
    const table = await readPartitionTable(image);
    const esp = table.partitions.find((p) => p.start === 4096 * 512)!;
    const linux = table.partitions.find((p) => p.index === 3)!;
    const fat = await detectFilesystem(image, esp.start, esp.size);
    const ext = await detectFilesystem(image, linux.start, linux.size);
    await image.close();
    expect(fat).toMatchObject({ type: 'vfat', fatType: 'FAT32' });
    expect(fat!.uuid).toBe(blkid(fixture('gpt-uefi.raw'), esp.start).UUID);
    expect(ext).toMatchObject({ type: 'ext4', uuid: blkid(fixture('gpt-uefi.raw'), linux.start).UUID });
    expect(ext!.size).toBeLessThanOrEqual(linux.size);
  });

  it('mbr-bios.raw: ext4 at sector 2048', async () => {
    const image = await openImage(fixture('mbr-bios.raw'));
    const table = await readPartitionTable(image);
    const part = table.partitions[0]!;
    expect(part.start).toBe(2048 * 512);
    const found = await detectFilesystem(image, part.start, part.size);
    await image.close();
    expect(found).toMatchObject({ type: 'ext4', uuid: blkid(fixture('mbr-bios.raw'), part.start).UUID });
  });
});

describe('volumes built from the documented layouts', () => {
  /** An LVM2 PV label in sector 1 (formats.md 8: "LABELONE", sector_xl, offset_xl 0x20, "LVM2 001", PV UUID). */
  it('LVM2 physical volume', async () => {
    const bytes = new Uint8Array(64 * 1024);
    const label = Buffer.from(bytes.buffer, 512, 512);
    label.write('LABELONE', 0, 'latin1');
    label.writeBigUInt64LE(1n, 0x08);
    label.writeUInt32LE(0x20, 0x14);
    label.write('LVM2 001', 0x18, 'latin1');
    label.write('abcdef0123456789ABCDEFghijklmnop', 0x20, 'latin1');
    label.writeBigUInt64LE(BigInt(8 * MiB), 0x40);
    expect(await detectBytes(bytes)).toEqual({
      type: 'lvm2',
      uuid: 'abcdef-0123-4567-89AB-CDEF-ghij-klmnop',
      size: 8 * MiB,
    });
    // The label must name the sector it sits in.
    label.writeBigUInt64LE(2n, 0x08);
    expect(await detectBytes(bytes)).toBeNull();
  });

  /** exFAT Main Boot Sector fields per Microsoft's exFAT specification, section 3.1. */
  it('exFAT boot sector', async () => {
    const bytes = new Uint8Array(64 * 1024);
    const boot = Buffer.from(bytes.buffer, 0, 512);
    boot.set([0xeb, 0x76, 0x90], 0);
    boot.write('EXFAT   ', 3, 'latin1');
    boot.writeBigUInt64LE(BigInt((32 * MiB) / 512), 0x48);
    boot.writeUInt32LE(0x1234abcd, 0x64);
    boot.set([9, 3, 1], 0x6c);
    boot.writeUInt16LE(0xaa55, 0x1fe);
    expect(await detectBytes(bytes)).toEqual({ type: 'exfat', uuid: '1234-ABCD', size: 32 * MiB });
    boot[0x20] = 1; // the old BPB area must be zero
    expect(await detectBytes(bytes)).toBeNull();
  });

  /** ECMA-119 primary volume descriptor at sector 16 of 2048 bytes. */
  it('ISO 9660 primary volume descriptor', async () => {
    const bytes = new Uint8Array(40 * 1024);
    const pvd = Buffer.from(bytes.buffer, 32768, 2048);
    pvd[0] = 1;
    pvd.write('CD001', 1, 'latin1');
    pvd[6] = 1;
    pvd.write('MY_DISC'.padEnd(32, ' '), 40, 'latin1');
    pvd.writeUInt32LE(20, 80);
    pvd.writeUInt32BE(20, 84);
    pvd.writeUInt16LE(2048, 128);
    pvd.writeUInt16BE(2048, 130);
    expect(await detectBytes(bytes)).toEqual({ type: 'iso9660', label: 'MY_DISC', size: 20 * 2048 });
  });

  it('swap with 64 KiB pages', async () => {
    const bytes = new Uint8Array(128 * 1024);
    const view = Buffer.from(bytes.buffer);
    view.writeUInt32LE(1, 1024);
    view.writeUInt32LE(1, 1028); // last page index
    view.write('SWAPSPACE2', 65536 - 10, 'latin1');
    expect(await detectBytes(bytes)).toEqual({ type: 'swap', size: 2 * 65536 });
  });
});

describe('garbage and edges', () => {
  it('random bytes and zeros give null', async () => {
    const random = seeded(7);
    const noise = new Uint8Array(128 * 1024).map(() => random() & 0xff);
    noise[510] = 0x55;
    noise[511] = 0xaa;
    expect(await detectBytes(noise)).toBeNull();
    expect(await detectBytes(new Uint8Array(128 * 1024))).toBeNull();
    expect(await detectBytes(new Uint8Array(100))).toBeNull();
  });

  it('a FAT boot sector with bytes per sector 0 is not FAT', async () => {
    const head = new Uint8Array(readFileSync(made.fat16!.path).subarray(0, 128 * 1024));
    // A volume larger than the image: the probes past the image's end are skipped, not attempted.
    expect((await detectBytes(head, 32 * MiB))!.fatType).toBe('FAT16');
    head[0x0b] = 0;
    head[0x0c] = 0;
    expect(await detectBytes(head)).toBeNull();
  });

  it('a volume or image shorter than the superblock location gives null', async () => {
    const ext = readFileSync(made.ext4!.path).subarray(0, 1500);
    const path = join(dir, 'truncated.img');
    writeFileSync(path, ext);
    expect(await detectFile(path)).toBeNull();
    expect(await detectFile(path, 0, 1024 * MiB)).toBeNull();
    expect(await detectFile(made.ext4!.path, 0, 1500)).toBeNull();
    expect(await detectFile(made.btrfs!.path, 0, 65536 + 0x40)).toBeNull();
  });

  it('a read the image refuses throws its DiskError', async () => {
    const image = await openImage(made.ext4!.path, { format: 'raw' });
    const refusing: DiskImage = {
      ...image,
      read: async () => {
        throw new DiskError('IO_ERROR', 'refused');
      },
    };
    await expect(detectFilesystem(refusing, 0, made.ext4!.size)).rejects.toMatchObject({ code: 'IO_ERROR' });
    await image.close();
  });

  it('300 mutated superblocks never throw', async () => {
    // [volume, superblock region] pairs: the bytes each probe decodes.
    const targets: [string, [number, number]][] = [
      ['fat12', [0, 512]],
      ['fat32', [0, 512]],
      ['ext4', [1024, 1400]],
      ['ntfs', [0, 512]],
      ['xfs', [0, 256]],
      ['btrfs', [65536, 65536 + 0x300]],
      ['swap', [1024, 1100]],
      ['swap', [4086, 4096]],
    ];
    const heads = targets.map(([name]) => readFileSync(made[name]!.path).subarray(0, 72 * 1024));
    const random = seeded(0x5eed);
    const seen: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const which = i % targets.length;
      const damaged = mutate(heads[which]!, random, [targets[which]![1]]);
      const found = await detectBytes(damaged);
      seen[found?.type ?? 'null'] = (seen[found?.type ?? 'null'] ?? 0) + 1;
    }
    expect(Object.keys(seen).length).toBeGreaterThan(1);
  });
});
