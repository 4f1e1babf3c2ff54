/**
 * Windows hints on NTFS volumes made by the real tools: mkntfs makes the volume (no mount), ntfscp adds files to
 * its root, and test/ntfs-builder.ts makes the \Windows\System32 case by same-length renames of mkntfs's own
 * directories.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskError } from '../src/errors.js';
import { windowsHints, type WindowsHints } from '../src/filesystems/index.js';
import type { DiskImage } from '../src/image/types.js';
import { openImage } from '../src/open.js';
import { MemorySource } from '../src/source/memory.js';
import { runVolumeMutants } from './helpers.js';
import { makeNtfs, rename, windowsVolume } from './ntfs-builder.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const VOLUME_BYTES = 16 * MiB;
const CLUSTER = 4096;
const RECORD = 1024;
const STRIDE = 512;

let dir: string;
/** mkntfs alone: only the system files. */
let bare: Buffer;
/** bootmgr, pagefile.sys, hiberfil.sys (in other cases), a *file* named Windows and 150 fillers. */
let files: Buffer;
/** $Extend renamed Windows, $Reparse in it renamed System32. */
let windows: Buffer;

function mkntfs(name: string, cluster = CLUSTER, bytes = VOLUME_BYTES): string {
  return makeNtfs(join(dir, `${name}.img`), cluster, bytes);
}

const FILLERS = Array.from({ length: 150 }, (_, i) => `filler-${String(i).padStart(3, '0')}-with-a-longer-name.txt`);

function ntfscp(volume: string, names: string[]): void {
  const source = join(dir, 'content.txt');
  writeFileSync(source, 'content\n');
  for (const name of names) execFileSync('/usr/sbin/ntfscp', ['-q', volume, source, name], { stdio: 'ignore' });
}

/** Root listing by ntfs-3g's ntfsls: the oracle for what ntfscp made. */
function ntfsls(volume: string): string[] {
  return execFileSync('ntfsls', ['-a', volume], { encoding: 'utf8' }).trim().split('\n');
}

const mftOffset = (bytes: Buffer) => Number(bytes.readBigUInt64LE(0x30)) * CLUSTER;
/** The 4 KiB-aligned "INDX" blocks in the volume. */
const indexBlocks = (bytes: Buffer) =>
  Array.from({ length: bytes.length / CLUSTER }, (_, i) => i * CLUSTER).filter((at) => bytes.toString('latin1', at, at + 4) === 'INDX');

async function imageOf(bytes: Uint8Array): Promise<{ image: DiskImage; reads: [number, number][] }> {
  const image = await openImage(new MemorySource('ntfs', bytes), { format: 'raw' });
  const reads: [number, number][] = [];
  const spy: DiskImage = { ...image, read: (offset, length) => (reads.push([offset, length]), image.read(offset, length)) };
  return { image: spy, reads };
}

async function hints(bytes: Uint8Array, size = bytes.length): Promise<WindowsHints | null> {
  return windowsHints((await imageOf(bytes)).image, 0, size);
}

const NOTHING: WindowsHints = { windowsFolder: false, bootmgr: false, system32: false, pagefile: false, hiberfil: false };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskport-ntfs-'));
  bare = readFileSync(mkntfs('bare'));

  const filesPath = mkntfs('files');
  ntfscp(filesPath, ['bootmgr', 'PageFile.sys', 'HIBERFIL.SYS', 'Windows', ...FILLERS]);
  files = readFileSync(filesPath);
  expect(ntfsls(filesPath)).toEqual(expect.arrayContaining(['bootmgr', 'PageFile.sys', 'HIBERFIL.SYS', 'Windows']));

  windows = windowsVolume(mkntfs('windows'));
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('volumes made by mkntfs and ntfscp', () => {
  it('a bare volume: NTFS, and no Windows folder or Windows files', async () => {
    const { image, reads } = await imageOf(bare);
    expect(await windowsHints(image, 0, bare.length)).toEqual(NOTHING);
    // The boot sector, records 0 and 5 and an index block or two: a few KiB.
    expect(reads.reduce((total, [, length]) => total + length, 0)).toBeLessThan(32 * KiB);
  });

  it('bootmgr, pagefile.sys and hiberfil.sys are found whatever their case; a *file* named Windows is no folder', async () => {
    expect(await hints(files)).toEqual({ ...NOTHING, bootmgr: true, pagefile: true, hiberfil: true });
  });

  it('the root index of that volume is a tree of several INDX blocks (a large index), walked from its root', async () => {
    // 150 fillers with long names do not fit one 4 KiB block: the root node points to several leaves.
    expect(indexBlocks(files).length).toBeGreaterThan(3);
    expect(indexBlocks(bare).length).toBeLessThanOrEqual(2);
  });

  // 512-byte clusters: a 4 KiB index block spans 8 clusters. 64 KiB clusters: sub-node VCNs count 512-byte units.
  it.each([512, 65536])('%i-byte clusters: the same walk through a large root index', async (cluster) => {
    const path = mkntfs(`cluster-${cluster}`, cluster, 64 * MiB);
    // zz-hiberfil.sys is not hiberfil.sys: names match whole.
    ntfscp(path, [...FILLERS, 'BootMgr', 'pagefile.sys', 'zz-hiberfil.sys']);
    expect(await hints(readFileSync(path))).toEqual({ ...NOTHING, bootmgr: true, pagefile: true });
  });

  it('\\Windows with System32 in it: the folder is followed through its MFT record', async () => {
    expect(await hints(windows)).toEqual({ ...NOTHING, windowsFolder: true, system32: true });
  });

  it('a Windows folder without System32', async () => {
    const bytes = Buffer.from(windows);
    rename(bytes, 'System32', 'Drivers3');
    expect(await hints(bytes)).toEqual({ ...NOTHING, windowsFolder: true });
  });

  it('inside a volume at an offset (a partition), reading nothing outside it', async () => {
    const disk = Buffer.concat([Buffer.alloc(MiB), windows, Buffer.alloc(MiB)]);
    const { image, reads } = await imageOf(disk);
    expect(await windowsHints(image, MiB, windows.length)).toEqual({ ...NOTHING, windowsFolder: true, system32: true });
    for (const [at, length] of reads) {
      expect(at).toBeGreaterThanOrEqual(MiB);
      expect(at + length).toBeLessThanOrEqual(MiB + windows.length);
    }
  });
});

describe('not NTFS, or not readable', () => {
  it('zeros, a FAT-looking sector and a cut-short volume give null', async () => {
    expect(await hints(Buffer.alloc(MiB))).toBeNull();
    const fat = Buffer.from(bare.subarray(0, MiB));
    fat.write('MSDOS5.0', 3, 'latin1');
    expect(await hints(fat)).toBeNull();
    // A range that ends inside record 5: refused, and nothing is read past the range.
    const cut = mftOffset(bare) + 5 * RECORD + STRIDE;
    const { image, reads } = await imageOf(bare);
    expect(await windowsHints(image, 0, cut)).toBeNull();
    for (const [at, length] of reads) expect(at + length).toBeLessThanOrEqual(cut);
  });

  it('impossible boot sectors give null: cluster size, record size, $MFT cluster', async () => {
    for (const [at, value] of [
      [0x0d, 3], // 3 sectors per cluster
      [0x0d, 0], // none
      [0x0d, 0xe0], // 2^32 sectors per cluster
      [0x40, 0], // 0 clusters per record
      [0x40, 0xf4], // 2^12 = 4 KiB records: read, but record 5 is then garbage
      [0x40, 0xf0], // 64 KiB records: past the limit
      [0x40, 0x81], // 2^127 bytes
    ] as const) {
      const bytes = Buffer.from(bare);
      bytes[at] = value;
      expect(await hints(bytes), `byte 0x${at.toString(16)} = ${value}`).toBeNull();
    }
    for (const cluster of [0n, BigInt(VOLUME_BYTES / CLUSTER), 2n ** 63n]) {
      const bytes = Buffer.from(bare);
      bytes.writeBigUInt64LE(cluster, 0x30);
      expect(await hints(bytes)).toBeNull();
    }
  });

  it('record 5 with a torn write (a stride whose fixup does not match), or not "FILE", gives null', async () => {
    const root = mftOffset(bare) + 5 * RECORD;
    const torn = Buffer.from(bare);
    torn.writeUInt8(torn.readUInt8(root + STRIDE - 1) ^ 0xff, root + STRIDE - 1);
    expect(await hints(torn)).toBeNull();
    const notFile = Buffer.from(bare);
    notFile.write('BAAD', root, 'latin1');
    expect(await hints(notFile)).toBeNull();
  });

  it('a torn root index block loses what it held, not the answer: false, not null', async () => {
    const bytes = Buffer.from(files);
    for (const at of indexBlocks(bytes)) bytes.writeUInt8(bytes.readUInt8(at + CLUSTER - 1) ^ 0xff, at + CLUSTER - 1);
    expect(await hints(bytes)).toEqual(NOTHING);
  });

  it('a stale reference (sequence number of another file) does not lead into \\Windows', async () => {
    const bytes = Buffer.from(windows);
    // Record 11 ($Extend, now Windows): bump its sequence number so the root's reference no longer matches.
    const at = mftOffset(bytes) + 11 * RECORD + 0x10;
    bytes.writeUInt16LE(bytes.readUInt16LE(at) + 1, at);
    expect(await hints(bytes)).toEqual({ ...NOTHING, windowsFolder: true });
  });

  it("the image's own refusal (a streamed source) escapes as its DiskError", async () => {
    const { image } = await imageOf(windows);
    const refusing: DiskImage = {
      ...image,
      read: async (offset, length) => {
        if (offset >= 64 * KiB) throw new DiskError('NOT_SEEKABLE', 'outside the window');
        return image.read(offset, length);
      },
    };
    await expect(windowsHints(refusing, 0, windows.length)).rejects.toMatchObject({ code: 'NOT_SEEKABLE' });
  });
});

describe('hostile volumes', () => {
  it('500 mutants of boot sector, MFT records 0, 5 and 11 and the index blocks: results or DiskErrors, each < 100 ms', async () => {
    const targets = [windows, files].map((base) => {
      const bytes = Buffer.from(base);
      const mft = mftOffset(bytes);
      const regions: [number, number][] = [
        [0, 0x80],
        [0x1fe, 0x200],
        ...[0, 5, 11].map((n) => [mft + n * RECORD, mft + (n + 1) * RECORD] as [number, number]),
        ...indexBlocks(bytes).map((at) => [at, at + CLUSTER] as [number, number]),
      ];
      return { bytes, regions };
    });
    const expected = [
      JSON.stringify({ ...NOTHING, windowsFolder: true, system32: true }),
      JSON.stringify({ ...NOTHING, bootmgr: true, pagefile: true, hiberfil: true }),
    ];
    const { outcomes, results, slowestMs } = await runVolumeMutants(targets, 500, 0x4e7f5, async (image, size) =>
      JSON.stringify(await windowsHints(image, 0, size)));
    const unchanged = results.filter(({ target, outcome }) => outcome === expected[target]).length;
    expect(slowestMs).toBeLessThan(100);
    // Most damage (boot code, unused bytes) leaves the answer; some of it loses it: the mutants reach the walk.
    expect(unchanged).toBeGreaterThan(150);
    expect(outcomes.size).toBeGreaterThan(3);
  });
});
