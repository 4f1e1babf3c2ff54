/**
 * Partition tables: the gpt-uefi / mbr-bios fixtures in every format against sfdisk's reading of the RAW one,
 * then small disks made here with sgdisk/sfdisk (and byte patches) for each rule: boot modes, EBR chains and
 * loops, damaged GPT headers and arrays, hybrid MBRs, records past the end, and hostile bytes.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskError } from '../src/errors.js';
import { openImage } from '../src/open.js';
import { readPartitionTable } from '../src/partitions/index.js';
import type { PartitionTable } from '../src/partitions/index.js';
import { crc32Table } from '../src/partitions/gpt.js';
import { MemorySource } from '../src/source/memory.js';
import { fixture, manifest, mutate, seeded } from './helpers.js';

const ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649';
const LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
const MiB = 1024 * 1024;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskport-partitions-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A blank file of `mib` MiB in the temp dir. */
function blank(name: string, mib: number): string {
  const path = join(dir, name);
  run('truncate', ['-s', `${mib}M`, path]);
  return path;
}

function sgdisk(name: string, mib: number, args: string[]): string {
  const path = blank(name, mib);
  run('sgdisk', [...args, path]);
  return path;
}

function sfdisk(name: string, mib: number, script: string): string {
  const path = blank(name, mib);
  run('sfdisk', ['--no-reread', '--no-tell-kernel', path], script);
  return path;
}

interface SfdiskPartition { start: number; size: number; type: string; bootable?: boolean }
function sfdiskJson(path: string): SfdiskPartition[] {
  return JSON.parse(run('sfdisk', ['--json', path])).partitiontable.partitions;
}

async function tableOf(input: string | Uint8Array): Promise<PartitionTable> {
  const image = await openImage(typeof input === 'string' ? input : new MemorySource('patched.raw', input));
  try {
    return await readPartitionTable(image);
  } finally {
    await image.close();
  }
}

const codes = (table: PartitionTable) => table.problems.map((p) => p.code);
const u32 = (bytes: Uint8Array, at: number) => Buffer.from(bytes.buffer, bytes.byteOffset).readUInt32LE(at);
const setU32 = (bytes: Uint8Array, at: number, value: number) => Buffer.from(bytes.buffer, bytes.byteOffset).writeUInt32LE(value, at);

describe.each(manifest.filter((e) => e.file.startsWith('gpt-uefi')))('fixture $file', (entry) => {
  it('is GPT with BIOS boot, EFI System and Linux partitions where sfdisk sees them: uefi-preferred', async () => {
    const table = await tableOf(fixture(entry.file));
    const oracle = sfdiskJson(fixture('gpt-uefi.raw'));
    expect(table.scheme).toBe('gpt');
    expect(table.sectorSize).toBe(512);
    expect(table.partitions.map((p) => ({ start: p.start, size: p.size, type: p.type }))).toEqual(
      oracle.map((p) => ({ start: p.start * 512, size: p.size * 512, type: p.type })),
    );
    expect(table.partitions.map((p) => p.typeName)).toEqual(['BIOS boot', 'EFI System', 'Linux filesystem']);
    expect(table.partitions.map((p) => p.index)).toEqual([1, 2, 3]);
    expect(table.bootMode).toBe('uefi-preferred');
    expect(table.problems).toEqual([]);
    expect(table.hybridMbr).toBeUndefined();
  });
});

describe.each(manifest.filter((e) => e.file.startsWith('mbr-bios')))('fixture $file', (entry) => {
  it('is MBR with one active 0x83 partition at 1 MiB: legacy-bios', async () => {
    const table = await tableOf(fixture(entry.file));
    const [oracle] = sfdiskJson(fixture('mbr-bios.raw'));
    expect(table.scheme).toBe('mbr');
    expect(table.partitions).toEqual([
      { index: 1, start: 1 * MiB, size: oracle!.size * 512, type: '0x83', typeName: 'Linux', bootable: true },
    ]);
    expect(table.bootMode).toBe('legacy-bios');
    expect(table.problems).toEqual([]);
  });
});

describe('no partition table', () => {
  it('mixed.raw (random content) has no scheme and no boot mode', async () => {
    const table = await tableOf(fixture('mixed.raw'));
    expect(table).toMatchObject({ scheme: null, partitions: [], bootMode: null });
    expect(codes(table)).not.toContain('NOT_BOOTABLE');
  });

  it('an all-zero disk has no scheme', async () => {
    expect(await tableOf(new Uint8Array(MiB))).toMatchObject({ scheme: null, bootMode: null, problems: [] });
  });
});

describe('GPT boot modes (sgdisk)', () => {
  it('only an ESP: uefi', async () => {
    const table = await tableOf(sgdisk('esp.raw', 8, ['-n', '1:2048:+4M', '-t', '1:EF00', '-c', '1:EFI system']));
    expect(table.scheme).toBe('gpt');
    expect(table.partitions).toEqual([
      { index: 1, start: 2048 * 512, size: 4 * MiB, type: ESP, typeName: 'EFI System', name: 'EFI system', bootable: false },
    ]);
    expect(table.bootMode).toBe('uefi');
  });

  it('only a BIOS boot partition: legacy-bios', async () => {
    const table = await tableOf(sgdisk('bios.raw', 8, ['-n', '1:2048:+1M', '-t', '1:EF02', '-n', '2:0:0', '-t', '2:8300']));
    expect(table.partitions.map((p) => p.type)).toEqual([BIOS_BOOT, LINUX]);
    expect(table.bootMode).toBe('legacy-bios');
  });

  it('no ESP and no BIOS boot partition: null and NOT_BOOTABLE', async () => {
    const table = await tableOf(sgdisk('plain.raw', 8, ['-n', '1:2048:0', '-t', '1:8300']));
    expect(table).toMatchObject({ scheme: 'gpt', bootMode: null });
    expect(codes(table)).toEqual(['NOT_BOOTABLE']);
  });

  it('attribute bit 2 (legacy BIOS bootable) sets bootable', async () => {
    const table = await tableOf(sgdisk('attr.raw', 8, ['-n', '1:2048:0', '-t', '1:8300', '-A', '1:set:2']));
    expect(table.partitions[0]!.bootable).toBe(true);
  });
});

describe('damaged GPT', () => {
  let path: string;
  let good: PartitionTable;
  beforeAll(async () => {
    path = sgdisk('gpt.raw', 8, ['-n', '1:2048:+1M', '-t', '1:EF02', '-n', '2:0:+2M', '-t', '2:EF00', '-n', '3:0:0', '-t', '3:8300', '-c', '3:root']);
    good = await tableOf(path);
  });
  const lastLba = (8 * MiB) / 512 - 1;

  it('the undamaged disk agrees with sgdisk', async () => {
    const listed = run('sgdisk', ['-p', path]).split('\n').filter((l) => /^\s+\d+\s+\d+\s+\d+/.test(l));
    const starts = listed.map((l) => Number(l.trim().split(/\s+/)[1]) * 512);
    expect(good.partitions.map((p) => p.start)).toEqual(starts);
    expect(good.partitions[2]!.name).toBe('root');
    expect(good.problems).toEqual([]);
  });

  it('a flipped byte in the primary header: the backup is used, GPT_PRIMARY_DAMAGED', async () => {
    const bytes = new Uint8Array(readFileSync(path));
    bytes[512 + 0x30]! ^= 0x01; // LastUsableLBA: HeaderCRC32 no longer matches
    const table = await tableOf(bytes);
    expect(table.scheme).toBe('gpt');
    expect(codes(table)).toEqual(['GPT_PRIMARY_DAMAGED']);
    expect(table.partitions).toEqual(good.partitions);
    expect(table.bootMode).toBe('uefi-preferred');
  });

  it('a wiped primary signature: the backup is still found', async () => {
    const bytes = new Uint8Array(readFileSync(path));
    bytes.fill(0, 512, 520);
    const table = await tableOf(bytes);
    expect(codes(table)).toEqual(['GPT_PRIMARY_DAMAGED']);
    expect(table.partitions).toEqual(good.partitions);
  });

  it('a flipped byte in both entry arrays: GPT_DAMAGED, scheme gpt (protective MBR), no partitions', async () => {
    const bytes = new Uint8Array(readFileSync(path));
    bytes[2 * 512 + 0x40]! ^= 0x01; // primary array at LBA 2, entry 1's name
    bytes[(lastLba - 32) * 512 + 0x40]! ^= 0x01; // backup array: 32 sectors before the backup header
    const table = await tableOf(bytes);
    expect(table).toMatchObject({ scheme: 'gpt', partitions: [], bootMode: null });
    expect(codes(table)).toContain('GPT_DAMAGED');
    expect(codes(table)).not.toContain('GPT_PRIMARY_DAMAGED');
  });

  it('both damaged and no protective MBR: scheme null, GPT_DAMAGED still reported', async () => {
    const bytes = new Uint8Array(readFileSync(path));
    bytes[512 + 0x30]! ^= 0x01;
    bytes[lastLba * 512 + 0x30]! ^= 0x01;
    bytes.fill(0, 510, 512);
    const table = await tableOf(bytes);
    expect(table.scheme).toBeNull();
    expect(codes(table)).toEqual(['GPT_DAMAGED']);
  });

  it('an entry past LastUsableLBA (CRCs fixed up) is a problem, the others stay', async () => {
    const bytes = new Uint8Array(readFileSync(path));
    const entry3 = 2 * 512 + 2 * 128;
    Buffer.from(bytes.buffer).writeBigUInt64LE(BigInt(lastLba + 100), entry3 + 0x28); // EndingLBA
    const headerCrc = (at: number, array: number) => {
      setU32(bytes, at + 0x58, zlib.crc32(bytes.subarray(array, array + 128 * 128)));
      setU32(bytes, at + 0x10, 0);
      setU32(bytes, at + 0x10, zlib.crc32(bytes.subarray(at, at + 92)));
    };
    headerCrc(512, 1024);
    const table = await tableOf(bytes);
    expect(table.partitions.map((p) => p.index)).toEqual([1, 2]);
    expect(codes(table)).toEqual(['PARTITION_OUT_OF_RANGE']);
  });

  it('a hybrid MBR (sgdisk -h): hybridMbr and HYBRID_MBR, GPT partitions used', async () => {
    const hybrid = join(dir, 'hybrid.raw');
    copyFileSync(path, hybrid);
    run('sgdisk', ['-h', '3', hybrid]);
    const table = await tableOf(hybrid);
    expect(table.scheme).toBe('gpt');
    expect(table.hybridMbr).toBe(true);
    expect(codes(table)).toContain('HYBRID_MBR');
    expect(table.partitions).toEqual(good.partitions);
  });
});

describe('MBR (sfdisk)', () => {
  let extended: string;
  beforeAll(() => {
    extended = sfdisk(
      'ext.raw',
      16,
      // Named lines (ext.raw5..7) make sfdisk put them inside the extended partition rather than in slots 3 and 4.
      'label: dos\nstart=2048, size=4096, type=83, bootable\nstart=8192, type=5\n' +
        ['83', '82', '8e'].map((type, i) => `${join(dir, 'ext.raw')}${i + 5} : size=2048, type=${type}\n`).join(''),
    );
  });

  it('an extended partition with 3 logical partitions: all listed where sfdisk sees them', async () => {
    const table = await tableOf(extended);
    const oracle = sfdiskJson(extended);
    expect(table.scheme).toBe('mbr');
    expect(table.partitions.map((p) => ({ start: p.start, size: p.size, type: Number(p.type) }))).toEqual(
      oracle.map((p) => ({ start: p.start * 512, size: p.size * 512, type: parseInt(p.type, 16) })),
    );
    expect(table.partitions.map((p) => p.index)).toEqual([1, 2, 5, 6, 7]);
    expect(table.partitions.map((p) => p.typeName)).toEqual(['Linux', 'extended', 'Linux', 'Linux swap', 'Linux LVM']);
  });

  it('an active partition but no boot code: null and NOT_BOOTABLE', async () => {
    const bytes = new Uint8Array(readFileSync(extended));
    expect(bytes.subarray(0, 440).every((b) => b === 0)).toBe(true); // sfdisk writes no boot code
    const table = await tableOf(bytes);
    expect(table.partitions[0]!.bootable).toBe(true);
    expect(table.bootMode).toBeNull();
    expect(codes(table)).toEqual(['NOT_BOOTABLE']);
  });

  it('an EBR pointing back at the first: bounded, EBR_LOOP, the logical partitions before it kept', async () => {
    const bytes = new Uint8Array(readFileSync(extended));
    const extStart = 8192;
    let ebr = extStart;
    for (let next = u32(bytes, ebr * 512 + 446 + 16 + 8); next !== 0; next = u32(bytes, ebr * 512 + 446 + 16 + 8)) {
      ebr = extStart + next;
    }
    const link = ebr * 512 + 446 + 16; // the last EBR's second record: make it point at the first EBR again
    bytes[link + 4] = 0x05;
    setU32(bytes, link + 8, 0);
    setU32(bytes, link + 12, 1);
    const table = await tableOf(bytes);
    expect(codes(table)).toContain('EBR_LOOP');
    expect(table.partitions.map((p) => p.index)).toEqual([1, 2, 5, 6, 7]);
  });

  it('a chain of 300 EBRs stops at 128 with EBR_LIMIT', async () => {
    const bytes = new Uint8Array(4 * MiB);
    const extStart = 2048;
    const record = (at: number, type: number, start: number, size: number) => {
      bytes[at + 4] = type;
      setU32(bytes, at + 8, start);
      setU32(bytes, at + 12, size);
    };
    record(446, 0x05, extStart, 2 * 300);
    for (let i = 0; i < 300; i++) {
      const ebr = (extStart + 2 * i) * 512;
      record(ebr + 446, 0x83, 1, 1);
      if (i < 299) record(ebr + 446 + 16, 0x05, 2 * (i + 1), 2);
      bytes[ebr + 510] = 0x55;
      bytes[ebr + 511] = 0xaa;
    }
    bytes[510] = 0x55;
    bytes[511] = 0xaa;
    const table = await tableOf(bytes);
    expect(table.partitions.length).toBe(1 + 128);
    expect(codes(table)).toContain('EBR_LIMIT');
  });

  it('no active partition (boot code present): null and NOT_BOOTABLE', async () => {
    const bytes = new Uint8Array(readFileSync(sfdisk('inactive.raw', 4, 'label: dos\nstart=2048, type=83\n')));
    bytes.set([0xeb, 0x63, 0x90], 0);
    const table = await tableOf(bytes);
    expect(table.partitions).toMatchObject([{ start: MiB, type: '0x83', bootable: false }]);
    expect(table.bootMode).toBeNull();
    expect(codes(table)).toEqual(['NOT_BOOTABLE']);
    bytes[446] = 0x80; // the same disk with the partition made active boots from BIOS
    expect((await tableOf(bytes)).bootMode).toBe('legacy-bios');
  });

  it('an 0xEF (EFI System) partition: uefi', async () => {
    const table = await tableOf(sfdisk('efmbr.raw', 4, 'label: dos\nstart=2048, type=ef\n'));
    expect(table.partitions).toMatchObject([{ type: '0xef', typeName: 'EFI System' }]);
    expect(table.bootMode).toBe('uefi');
  });

  it('a record past the end of the disk is a problem, not a crash', async () => {
    const bytes = new Uint8Array(readFileSync(fixture('mbr-bios.raw')));
    setU32(bytes, 446 + 12, 0xfffffff0);
    const table = await tableOf(bytes);
    expect(table).toMatchObject({ scheme: 'mbr', partitions: [], bootMode: null });
    expect(codes(table)).toEqual(['PARTITION_OUT_OF_RANGE', 'NOT_BOOTABLE']);
  });
});

describe('4096-byte sectors', () => {
  /** sgdisk cannot write 4Kn layouts to a file, so this re-lays a 512-byte sgdisk GPT out in 4096-byte LBAs. */
  function to4Kn(source: Uint8Array): Uint8Array {
    const disk = new Uint8Array(source.length);
    const buf = Buffer.from(disk.buffer);
    const lastLba = disk.length / 4096 - 1;
    disk.set(source.subarray(0, 512)); // the protective MBR
    const header = 4096;
    disk.set(source.subarray(512, 512 + 92), header);
    const entries = 2 * 4096; // 128 entries x 128 bytes = 4 LBAs at LBA 2..5
    disk.set(source.subarray(1024, 1024 + 128 * 128), entries);
    for (let i = 0; i < 128; i++) {
      const at = entries + i * 128;
      if (disk.subarray(at, at + 16).every((b) => b === 0)) continue;
      buf.writeBigUInt64LE(buf.readBigUInt64LE(at + 0x20) / 8n, at + 0x20);
      buf.writeBigUInt64LE((buf.readBigUInt64LE(at + 0x28) + 1n) / 8n - 1n, at + 0x28);
    }
    buf.writeBigUInt64LE(1n, header + 0x18);
    buf.writeBigUInt64LE(BigInt(lastLba), header + 0x20);
    buf.writeBigUInt64LE(6n, header + 0x28);
    buf.writeBigUInt64LE(BigInt(lastLba - 5), header + 0x30);
    buf.writeBigUInt64LE(2n, header + 0x48);
    buf.writeUInt32LE(zlib.crc32(disk.subarray(entries, entries + 128 * 128)), header + 0x58);
    buf.writeUInt32LE(0, header + 0x10);
    buf.writeUInt32LE(zlib.crc32(disk.subarray(header, header + 92)), header + 0x10);
    return disk;
  }

  it('a GPT at byte 4096 is read with sectorSize 4096', async () => {
    const path = sgdisk('gpt4k.raw', 8, ['-n', '1:2048:+2M', '-t', '1:EF00', '-n', '2:0:0', '-t', '2:8300']);
    const table = await tableOf(to4Kn(new Uint8Array(readFileSync(path))));
    expect(table.sectorSize).toBe(4096);
    expect(table.partitions.map((p) => ({ start: p.start, size: p.size, typeName: p.typeName }))).toEqual([
      { start: MiB, size: 2 * MiB, typeName: 'EFI System' },
      // Ends at LastUsableLBA: 5 LBAs (backup array + header) before the last of 2048.
      { start: 3 * MiB, size: 8 * MiB - 3 * MiB - 5 * 4096, typeName: 'Linux filesystem' },
    ]);
    expect(table.bootMode).toBe('uefi');
  });
});

describe('robustness', () => {
  it('the table CRC-32 agrees with node:zlib', () => {
    const bytes = new Uint8Array(readFileSync(fixture('gpt-uefi.raw')).subarray(0, 64 * 1024));
    expect(crc32Table(bytes)).toBe(zlib.crc32(bytes));
    expect(crc32Table(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('damaged bytes in the tables give problems, never exceptions, and partitions stay inside the disk', async () => {
    const gpt = new Uint8Array(readFileSync(fixture('gpt-uefi.raw')).subarray(0, 4 * MiB));
    const mbr = new Uint8Array(readFileSync(join(dir, 'ext.raw')));
    const random = seeded(7);
    let reads = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = i % 2 === 0 ? mutate(gpt, random, [[0, 34 * 512]]) : mutate(mbr, random, [[446, 512], [8192 * 512, 8192 * 512 + 512]]);
      const source = new MemorySource('fuzz.raw', bytes);
      const image = await openImage(source);
      // Every read stays inside the disk, so the in-memory image never fails: any throw is the table reader's.
      const table = await readPartitionTable(image).catch((error: unknown) => {
        expect(error).toBeInstanceOf(DiskError);
        throw error;
      });
      for (const p of table.partitions) expect(p.start + p.size).toBeLessThanOrEqual(bytes.length);
      reads = Math.max(reads, source.bytesRead);
    }
    // Detection reads 64 KiB; the table reader adds a few KiB and the 16 KiB entry arrays, never the disk.
    expect(reads).toBeLessThan(256 * 1024);
  });
});
