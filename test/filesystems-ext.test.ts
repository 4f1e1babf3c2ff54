/**
 * ext2/3/4 path lookup and the Linux release, on volumes made by the real tools: mke2fs -d populates each from a
 * directory tree (no mount), e2fsck -fD indexes the large directories into htrees, and debugfs is the oracle
 * for where the hostile copies are damaged (inode locations, directory blocks, extent depth).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskError } from '../src/errors.js';
import {
  ExtLimits,
  bootKernels,
  compareVersions,
  linuxRelease,
  listExtDirectory,
  parseOsRelease,
  readExtFile,
} from '../src/filesystems/index.js';
import type { DiskImage } from '../src/image/types.js';
import { openImage } from '../src/open.js';
import { readPartitionTable } from '../src/partitions/index.js';
import { MemorySource } from '../src/source/memory.js';
import { fixture, runVolumeMutants, seeded } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

let dir: string;

// ---- building volumes -----------------------------------------------------------------------------------

/** A tree to populate a volume from: file contents, `{ link }` for a symlink, `{ dir: true }` for an empty folder. */
type Tree = Record<string, string | Uint8Array | { link: string } | { dir: true }>;

function writeTree(root: string, tree: Tree): void {
  mkdirSync(root, { recursive: true });
  for (const [path, value] of Object.entries(tree)) {
    const target = join(root, path);
    if (typeof value === 'object' && 'dir' in value) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    mkdirSync(dirname(target), { recursive: true });
    if (typeof value === 'object' && 'link' in value) symlinkSync(value.link, target);
    else writeFileSync(target, value);
  }
}

interface VolumeSpec {
  type: 'ext2' | 'ext3' | 'ext4';
  blockSize: 1024 | 4096;
  inodeSize: 128 | 256;
  /** mke2fs -O list, e.g. '^64bit,^metadata_csum'. */
  features?: string;
  size?: number;
  /** Index directories larger than a block into htrees (e2fsck -fD), as a kernel does when they grow. */
  htree?: boolean;
}

/** Makes a volume with mke2fs -d from `tree`; returns the image path. */
function makeVolume(name: string, spec: VolumeSpec, tree: Tree): string {
  const root = join(dir, `${name}-root`);
  writeTree(root, tree);
  const path = join(dir, `${name}.img`);
  execFileSync('truncate', ['-s', String(spec.size ?? 32 * MiB), path]);
  const args = ['-q', '-F', '-t', spec.type, '-b', String(spec.blockSize), '-I', String(spec.inodeSize)];
  if (spec.features) args.push('-O', spec.features);
  execFileSync('mke2fs', [...args, '-d', root, path], { stdio: 'ignore' });
  if (spec.htree) e2fsckRehash(path);
  return path;
}

/** e2fsck exits 1 when it changed the volume, which -D (rehash directories) always does. */
function e2fsckRehash(path: string): void {
  try {
    execFileSync('e2fsck', ['-fyD', path], { stdio: 'ignore' });
  } catch (error) {
    if ((error as { status?: number }).status !== 1) throw error;
  }
}

function debugfs(path: string, request: string): string {
  return execFileSync('debugfs', ['-R', request, path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

/** Byte offset of a path's inode in the volume, from debugfs (`imap`): "located at block B, offset 0xO". */
function inodeOffset(path: string, file: string, blockSize: number): number {
  const match = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(debugfs(path, `imap ${file}`))!;
  return Number(match[1]) * blockSize + parseInt(match[2]!, 16);
}

/** The data blocks of a path (for a directory: its directory blocks), from debugfs `blocks`. */
function dataBlocks(path: string, file: string): number[] {
  return debugfs(path, `blocks ${file}`).trim().split(/\s+/).map(Number);
}

function inodeFlags(path: string, file: string): number {
  return parseInt(/Flags: 0x([0-9a-f]+)/.exec(debugfs(path, `stat ${file}`))![1]!, 16);
}

// ---- reading them ---------------------------------------------------------------------------------------

interface Counted {
  image: DiskImage;
  reads: [number, number][];
}

/** An image over bytes in memory whose reads are recorded. */
async function memoryImage(bytes: Uint8Array): Promise<Counted> {
  const image = await openImage(new MemorySource('ext', bytes), { format: 'raw' });
  const reads: [number, number][] = [];
  const spy: DiskImage = { ...image, read: (offset, length) => (reads.push([offset, length]), image.read(offset, length)) };
  return { image: spy, reads };
}

const cache = new Map<string, Buffer>();
function bytesOf(path: string): Buffer {
  let bytes = cache.get(path);
  if (bytes === undefined) cache.set(path, (bytes = readFileSync(path)));
  return bytes;
}

async function imageOf(path: string): Promise<{ image: DiskImage; size: number }> {
  const bytes = bytesOf(path);
  return { image: (await memoryImage(bytes)).image, size: bytes.length };
}

async function readFile(path: string, file: string, maxBytes?: number): Promise<Buffer | null> {
  const { image, size } = await imageOf(path);
  const bytes = await readExtFile(image, 0, size, file, maxBytes);
  return bytes === null ? null : Buffer.from(bytes);
}

async function list(path: string, folder: string, maxEntries?: number) {
  const { image, size } = await imageOf(path);
  return listExtDirectory(image, 0, size, folder, maxEntries);
}

async function release(path: string) {
  const { image, size } = await imageOf(path);
  return linuxRelease(image, 0, size);
}

const sum = (reads: [number, number][]) => reads.reduce((total, [, length]) => total + length, 0);

// ---- the standard root ----------------------------------------------------------------------------------

const UBUNTU_OS_RELEASE = [
  '# written by base-files',
  'PRETTY_NAME="Ubuntu 22.04.3 LTS"',
  'NAME="Ubuntu"',
  'VERSION_ID="22.04"',
  'VERSION="22.04.3 LTS (Jammy Jellyfish)"',
  'VERSION_CODENAME=jammy',
  'ID=ubuntu',
  'ID_LIKE=debian',
  'HOME_URL="https://www.ubuntu.com/"',
  '',
].join('\n');

const UBUNTU = {
  id: 'ubuntu',
  versionId: '22.04',
  name: 'Ubuntu',
  prettyName: 'Ubuntu 22.04.3 LTS',
  idLike: ['debian'],
};

const KERNELS = ['5.15.0-91-generic', '6.1.0-13-amd64'];

/**
 * Every other 4 KiB written, the rest holes (mke2fs -d leaves zero blocks unallocated), so each written piece
 * is an extent of its own on either block size: 256 extents, more than a leaf in i_block holds. The last piece is
 * written too: mke2fs 1.47 with inline_data drops a trailing hole from the size.
 */
function sparseFile(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let at = 0, n = 0; at < bytes; at += 8 * KiB, n++) out.fill((n % 255) + 1, at, at + 4 * KiB);
  out.fill(0xee, bytes - 4 * KiB);
  return out;
}

const random = seeded(0xe47);
const LARGE = Buffer.from(Array.from({ length: 100 * KiB }, () => random() & 0xff));
const FRAGMENTED = sparseFile(2 * MiB);
const BIG_DIR = Array.from({ length: 520 }, (_, i) => `entry-${String(i).padStart(4, '0')}-with-a-longer-name`);
/** A symlink target longer than i_block's 60 bytes is kept in a data block (a slow symlink). */
const LONG_DIR = 'usr/share/a-directory-whose-name-is-long-enough-to-need-a-slow-symlink';

const STANDARD_TREE: Tree = {
  'etc/os-release': UBUNTU_OS_RELEASE,
  'etc/hostname': 'web-01\n',
  'etc/large.bin': LARGE,
  'etc/fragmented.bin': FRAGMENTED,
  'etc/absolute': { link: '/etc/hostname' },
  'etc/slow': { link: `../${LONG_DIR}/target` },
  [`${LONG_DIR}/target`]: 'reached through a slow symlink\n',
  'boot/vmlinuz-6.1.0-13-amd64': 'kernel 6.1\n',
  'boot/vmlinuz-5.15.0-91-generic': 'kernel 5.15\n',
  'boot/initrd.img-5.15.0-91-generic': 'initrd\n',
  'boot/grub': { dir: true },
  ...Object.fromEntries(BIG_DIR.map((name) => [`big/${name}`, name])),
};

const MATRIX: [string, VolumeSpec][] = [
  ['ext2, 1 KiB blocks, 128-byte inodes', { type: 'ext2', blockSize: 1024, inodeSize: 128 }],
  ['ext3, 4 KiB blocks, 256-byte inodes', { type: 'ext3', blockSize: 4096, inodeSize: 256 }],
  ['ext3, 1 KiB blocks, 256-byte inodes', { type: 'ext3', blockSize: 1024, inodeSize: 256 }],
  ['ext4 (extents, 64bit, metadata_csum), 4 KiB, 256', { type: 'ext4', blockSize: 4096, inodeSize: 256 }],
  ['ext4 (extents, no 64bit or metadata_csum), 1 KiB, 128', { type: 'ext4', blockSize: 1024, inodeSize: 128, features: '^64bit,^metadata_csum' }],
  ['ext4 (64bit, metadata_csum), 1 KiB, 256', { type: 'ext4', blockSize: 1024, inodeSize: 256 }],
  ['ext4 without extents, 4 KiB, 256', { type: 'ext4', blockSize: 4096, inodeSize: 256, features: '^extents,^64bit' }],
  ['ext4 with inline_data, 1 KiB, 256', { type: 'ext4', blockSize: 1024, inodeSize: 256, features: 'inline_data' }],
  // Entries without their type: listings read each entry's inode for it.
  ['ext2 without filetype, 4 KiB, 256', { type: 'ext2', blockSize: 4096, inodeSize: 256, features: '^filetype' }],
];

const volumes = new Map<string, string>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskport-ext-'));
  MATRIX.forEach(([label, spec], i) => volumes.set(label, makeVolume(`std${i}`, { ...spec, htree: true }, STANDARD_TREE)));
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('volumes made by mke2fs -d', () => {
  it.each(MATRIX)('%s: the release, the kernels, a few KiB read', async (label) => {
    const path = volumes.get(label)!;
    const bytes = bytesOf(path);
    const { image, reads } = await memoryImage(bytes);
    expect(await linuxRelease(image, 0, bytes.length)).toEqual({ ...UBUNTU, kernels: KERNELS, source: '/etc/os-release', fstab: null });
    expect(sum(reads)).toBeLessThan(128 * KiB);
    for (const [offset, length] of reads) expect(offset + length).toBeLessThanOrEqual(bytes.length);
  });

  it.each(MATRIX)('%s: files, symlinks (fast and slow), listings with their types', async (label) => {
    const path = volumes.get(label)!;
    expect((await readFile(path, '/etc/os-release'))!.toString()).toBe(UBUNTU_OS_RELEASE);
    expect((await readFile(path, 'etc/hostname'))!.toString()).toBe('web-01\n');
    expect((await readFile(path, '/etc/absolute'))!.toString()).toBe('web-01\n');
    expect((await readFile(path, '/etc/slow'))!.toString()).toBe('reached through a slow symlink\n');
    expect((await readFile(path, '/boot/../etc/./hostname'))!.toString()).toBe('web-01\n');
    // '..' at the root stays at the root, as in the kernel.
    expect((await readFile(path, '/../../etc/hostname'))!.toString()).toBe('web-01\n');

    const etc = await list(path, '/etc');
    expect(etc!.slice().sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'absolute', type: 'symlink' },
      { name: 'fragmented.bin', type: 'file' },
      { name: 'hostname', type: 'file' },
      { name: 'large.bin', type: 'file' },
      { name: 'os-release', type: 'file' },
      { name: 'slow', type: 'symlink' },
    ]);
    const root = (await list(path, '/'))!.map((e) => `${e.name}:${e.type}`).sort();
    expect(root).toEqual(['big:dir', 'boot:dir', 'etc:dir', 'lost+found:dir', 'usr:dir']);
    expect((await list(path, '/boot'))!.map((e) => e.name).sort()).toEqual(
      ['grub', 'initrd.img-5.15.0-91-generic', 'vmlinuz-5.15.0-91-generic', 'vmlinuz-6.1.0-13-amd64'],
    );
  });

  it.each(MATRIX)('%s: a 520-entry directory indexed as an htree lists every entry', async (label) => {
    const path = volumes.get(label)!;
    // The htree index flag (0x1000) is set: the linear walk really passes over index blocks.
    expect(inodeFlags(path, '/big') & 0x1000).toBe(0x1000);
    const big = (await list(path, '/big'))!;
    expect(big.map((e) => e.name).sort()).toEqual(BIG_DIR);
    expect(big.every((e) => e.type === 'file')).toBe(true);
    expect((await readFile(path, `/big/${BIG_DIR[517]}`))!.toString()).toBe(BIG_DIR[517]);
    expect(await list(path, '/big', 10)).toHaveLength(10);
  });

  it.each(MATRIX)('%s: a file past maxBytes comes back truncated; a fragmented sparse file reads whole', async (label) => {
    const path = volumes.get(label)!;
    const truncated = await readFile(path, '/etc/large.bin');
    expect(truncated).toHaveLength(ExtLimits.defaultFileBytes);
    expect(truncated!.equals(LARGE.subarray(0, ExtLimits.defaultFileBytes))).toBe(true);
    expect((await readFile(path, '/etc/large.bin', 200 * KiB))!.equals(LARGE)).toBe(true);
    expect((await readFile(path, '/etc/large.bin', 0))!.length).toBe(0);
    expect((await readFile(path, '/etc/fragmented.bin', 4 * MiB))!.equals(FRAGMENTED)).toBe(true);
  });

  it('the fragmented file really needs an extent index (depth 1 or 2), or the double-indirect block without extents', () => {
    for (const spec of [MATRIX[3]!, MATRIX[4]!]) {
      // debugfs prints "level/depth" per node: a leaf one level down exists only under an index.
      expect(debugfs(volumes.get(spec[0])!, 'ex /etc/fragmented.bin')).toMatch(/^\s*1\/\s*[12]\s/m);
    }
    const blockMap = debugfs(volumes.get(MATRIX[0]![0])!, 'stat /etc/fragmented.bin');
    expect(blockMap).toContain('(DIND)');
  });

  it('missing paths, wrong types and non-ext volumes give null', async () => {
    const path = volumes.get(MATRIX[3]![0])!;
    expect(await readFile(path, '/etc/missing')).toBeNull();
    expect(await readFile(path, '/etc')).toBeNull();
    expect(await readFile(path, '/etc/hostname/more')).toBeNull();
    expect(await list(path, '/etc/hostname')).toBeNull();
    expect(await list(path, '/nowhere')).toBeNull();
    const { image: volume, size } = await imageOf(path);
    await expect(readExtFile(volume, 0, size, '/etc/hostname', -1)).rejects.toMatchObject({ code: 'USAGE' });
    const { image } = await memoryImage(new Uint8Array(64 * KiB));
    expect(await readExtFile(image, 0, 64 * KiB, '/etc/os-release')).toBeNull();
    expect(await linuxRelease(image, 0, 64 * KiB)).toBeNull();
    expect(await bootKernels(image, 0, 64 * KiB)).toBeNull();
  });

  it('inline data: small files and directories live in the inode (i_block and the system.data xattr)', async () => {
    const tree: Tree = { 'etc/os-release': 'ID=alpine\nVERSION_ID=3.19.0\n' };
    for (const size of [10, 60, 90, 120]) tree[`data/f${size}`] = 'x'.repeat(size - 1) + '\n';
    tree['tiny/one'] = '1';
    const path = makeVolume('inline', { type: 'ext4', blockSize: 1024, inodeSize: 256, features: 'inline_data' }, tree);
    expect(inodeFlags(path, '/data/f120') & 0x10000000).toBe(0x10000000);
    expect(inodeFlags(path, '/tiny') & 0x10000000).toBe(0x10000000);
    for (const size of [10, 60, 90, 120]) {
      expect((await readFile(path, `/data/f${size}`))!.toString()).toBe('x'.repeat(size - 1) + '\n');
    }
    expect(await list(path, '/tiny')).toEqual([{ name: 'one', type: 'file' }]);
    expect(await release(path)).toEqual({ id: 'alpine', versionId: '3.19.0', kernels: [], source: '/etc/os-release', fstab: null });
  });

  it('a 3000-entry directory on 1 KiB blocks: a two-level htree (interior index blocks) lists whole', async () => {
    const names = Array.from({ length: 3000 }, (_, i) => `file-number-${i}-in-a-large-directory`);
    const path = makeVolume(
      'huge',
      { type: 'ext4', blockSize: 1024, inodeSize: 256, htree: true },
      Object.fromEntries(names.map((n) => [`huge/${n}`, ''])),
    );
    expect(debugfs(path, 'htree_dump /huge')).toMatch(/Indirect levels: 1/);
    const entries = (await list(path, '/huge'))!;
    expect(entries.map((e) => e.name).sort()).toEqual(names.slice().sort());
    expect(await readFile(path, `/huge/${names[2999]}`)).toEqual(Buffer.alloc(0));
  });
});

describe('the release files', () => {
  const ext4 = { type: 'ext4', blockSize: 4096, inodeSize: 256 } as const;

  it('/etc/os-release as a symlink to ../usr/lib/os-release; /usr/lib/os-release alone', async () => {
    const linked = makeVolume('linked', ext4, {
      'usr/lib/os-release': 'NAME="Fedora Linux"\nVERSION_ID=39\nID=fedora\nPRETTY_NAME="Fedora Linux 39 (Cloud Edition)"\n',
      'etc/os-release': { link: '../usr/lib/os-release' },
      'boot/vmlinuz-6.5.6-300.fc39.x86_64': 'k',
      'boot/vmlinuz-0-rescue-3b1b8e6c4f0a4b7f9d1e2c3a4b5c6d7e': 'k',
    });
    const fedora = { id: 'fedora', versionId: '39', name: 'Fedora Linux', prettyName: 'Fedora Linux 39 (Cloud Edition)' };
    expect(await release(linked)).toEqual({ ...fedora, kernels: ['6.5.6-300.fc39.x86_64'], source: '/etc/os-release', fstab: null });

    const usrOnly = makeVolume('usr-only', ext4, {
      'usr/lib/os-release': 'NAME="Fedora Linux"\nVERSION_ID=39\nID=fedora\nPRETTY_NAME="Fedora Linux 39 (Cloud Edition)"\n',
      'etc/hostname': 'x\n',
    });
    expect(await release(usrOnly)).toEqual({ ...fedora, kernels: [], source: '/usr/lib/os-release', fstab: null });
  });

  it('only /etc/redhat-release, /etc/debian_version or /etc/SuSE-release; /etc with none of them', async () => {
    const centos = makeVolume('centos', ext4, { 'etc/redhat-release': 'CentOS Linux release 7.9.2009 (Core)\n' });
    expect(await release(centos)).toEqual({
      id: 'centos',
      versionId: '7.9.2009',
      name: 'CentOS Linux',
      prettyName: 'CentOS Linux release 7.9.2009 (Core)',
      kernels: [],
      source: '/etc/redhat-release',
      fstab: null,
    });
    const debian = makeVolume('debian', ext4, { 'etc/debian_version': '8.11\n' });
    expect(await release(debian)).toEqual({ id: 'debian', versionId: '8.11', kernels: [], source: '/etc/debian_version', fstab: null });
    const sid = makeVolume('sid', ext4, { 'etc/debian_version': 'bookworm/sid\n' });
    expect(await release(sid)).toEqual({ id: 'debian', kernels: [], source: '/etc/debian_version', fstab: null });
    const sles = makeVolume('sles', ext4, {
      'etc/SuSE-release': 'SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n',
    });
    expect(await release(sles)).toEqual({
      id: 'sles',
      versionId: '11.4',
      name: 'SUSE Linux Enterprise Server 11',
      prettyName: 'SUSE Linux Enterprise Server 11 (x86_64)',
      kernels: [],
      source: '/etc/SuSE-release',
      fstab: null,
    });
    const bare = makeVolume('bare-etc', ext4, { 'etc/fstab': '# empty\n', 'etc/os-release': '# nothing here\n' });
    expect(await release(bare)).toEqual({ kernels: [], source: null, fstab: [] }); // an fstab of comments only
  });

  it('no /etc: null; /etc as a symlink to a directory counts', async () => {
    const data = makeVolume('data', ext4, { 'srv/www/index.html': '<p>hi</p>\n' });
    expect(await release(data)).toBeNull();
    const etcLink = makeVolume('etc-link', ext4, {
      'system/etc/os-release': 'ID=nixos\n',
      etc: { link: 'system/etc' },
    });
    expect(await release(etcLink)).toEqual({ id: 'nixos', kernels: [], source: '/etc/os-release', fstab: null });
  });

  it('an empty /boot (separate partition): the kernels from /lib/modules through a merged-/usr symlink', async () => {
    const path = makeVolume('modules', ext4, {
      'etc/os-release': UBUNTU_OS_RELEASE,
      'boot': { dir: true },
      'lib': { link: 'usr/lib' },
      'usr/lib/modules/6.8.0-45-generic/modules.dep': '',
      'usr/lib/modules/5.15.0-119-generic/modules.dep': '',
      'usr/lib/modules/extramodules-6.8': { dir: true },
      'usr/lib/modules/README': 'not a kernel\n',
    });
    expect(await release(path)).toEqual({ ...UBUNTU, kernels: ['5.15.0-119-generic', '6.8.0-45-generic'], source: '/etc/os-release', fstab: null });
  });

  it('a separate /boot volume: bootKernels lists its vmlinuz-* in version order, the newest 32 of 40', async () => {
    const boot = makeVolume('boot', { type: 'ext2', blockSize: 1024, inodeSize: 128 }, {
      'vmlinuz-6.1.0-13-amd64': 'k',
      'vmlinuz-5.15.0-91-generic': 'k',
      'vmlinuz-6.10.2': 'k',
      'config-6.1.0-13-amd64': 'c',
      'grub/grub.cfg': 'menuentry\n',
    });
    const { image, size } = await imageOf(boot);
    expect(await bootKernels(image, 0, size)).toEqual(['5.15.0-91-generic', '6.1.0-13-amd64', '6.10.2']);
    // Not a root file system: no /etc.
    expect(await linuxRelease(image, 0, size)).toBeNull();

    const many = makeVolume('many-kernels', { type: 'ext4', blockSize: 4096, inodeSize: 256 }, Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`vmlinuz-5.${i}.0-1-generic`, 'k']),
    ));
    const m = await imageOf(many);
    const kernels = (await bootKernels(m.image, 0, m.size))!;
    expect(kernels).toHaveLength(32);
    expect(kernels[0]).toBe('5.8.0-1-generic');
    expect(kernels[31]).toBe('5.39.0-1-generic');
  });

  it('parseOsRelease: quotes, escapes, comments, unclosed quotes and later assignments', () => {
    const fields = parseOsRelease([
      '  # a comment',
      'NAME="Debian \\"GNU\\"/Linux"',
      "PRETTY_NAME='Single $quoted \\n'",
      'ID=plain\\ word',
      'VERSION="12 (bookworm)" # trailing comment',
      'BROKEN="never closed',
      'not an assignment',
      'ID_LIKE="rhel  centos fedora"',
      'ID=later',
      'MIXED="a"\'b\'c',
      'DOLLAR="costs \\$5 and \\\\ backslash \\x kept"',
      '',
    ].join('\r\n'));
    expect(Object.fromEntries(fields)).toEqual({
      NAME: 'Debian "GNU"/Linux',
      PRETTY_NAME: 'Single $quoted \\n',
      ID: 'later',
      VERSION: '12 (bookworm)',
      ID_LIKE: 'rhel  centos fedora',
      MIXED: 'abc',
      DOLLAR: 'costs $5 and \\ backslash \\x kept',
    });
  });

  it('compareVersions orders digit runs as numbers', () => {
    const sorted = ['6.10.2', '5.15.0-91-generic', '6.1.0-13-amd64', '6.1.0-9-amd64', '4.19.0'].sort(compareVersions);
    expect(sorted).toEqual(['4.19.0', '5.15.0-91-generic', '6.1.0-9-amd64', '6.1.0-13-amd64', '6.10.2']);
  });
});

describe('volumes inside disk images', () => {
  it('a volume at a 3 MiB offset (mke2fs -E offset): read in place, nothing read outside it', async () => {
    const root = join(dir, 'offset-root');
    writeTree(root, { 'etc/os-release': UBUNTU_OS_RELEASE, 'boot/vmlinuz-6.1.0-13-amd64': 'k' });
    const path = join(dir, 'offset.img');
    const offset = 3 * MiB;
    const volumeSize = 16 * MiB;
    execFileSync('truncate', ['-s', String(offset + volumeSize + MiB), path]);
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', `offset=${offset}`, '-d', root, path, `${volumeSize / KiB}k`], {
      stdio: 'ignore',
    });
    const bytes = readFileSync(path);
    const { image, reads } = await memoryImage(bytes);
    expect(await linuxRelease(image, offset, volumeSize)).toEqual({ ...UBUNTU, kernels: ['6.1.0-13-amd64'], source: '/etc/os-release', fstab: null });
    for (const [at, length] of reads) {
      expect(at).toBeGreaterThanOrEqual(offset);
      expect(at + length).toBeLessThanOrEqual(offset + volumeSize);
    }
    // At the wrong start there is no volume.
    expect(await linuxRelease(image, 0, bytes.length)).toBeNull();
  });

  it.each(['gpt-uefi.raw', 'gpt-uefi.vmdk', 'mbr-bios.qcow2'])('%s: the ext4 partition has no /etc: null', async (name) => {
    const image = await openImage(fixture(name));
    try {
      const table = await readPartitionTable(image);
      const linux = table.partitions.find((p) => p.index === (name.startsWith('gpt') ? 3 : 1))!;
      expect(await linuxRelease(image, linux.start, linux.size)).toBeNull();
      expect(await listExtDirectory(image, linux.start, linux.size, '/')).toEqual([{ name: 'lost+found', type: 'dir' }]);
      expect(await bootKernels(image, linux.start, linux.size)).toEqual([]);
    } finally {
      await image.close();
    }
  });

  it("a read the image refuses (a streamed image's NOT_SEEKABLE) throws its DiskError", async () => {
    const bytes = bytesOf(volumes.get(MATRIX[3]![0])!);
    const { image } = await memoryImage(bytes);
    let calls = 0;
    const refusing: DiskImage = {
      ...image,
      // Detection's first read passes; the walk deeper into the volume is refused.
      read: async (offset, length) => {
        if (calls++ < 2) return image.read(offset, length);
        throw new DiskError('NOT_SEEKABLE', 'outside the kept windows');
      },
    };
    await expect(linuxRelease(refusing, 0, bytes.length)).rejects.toMatchObject({ code: 'NOT_SEEKABLE' });
  });
});

describe('hostile volumes', () => {
  const ext4 = { type: 'ext4', blockSize: 4096, inodeSize: 256 } as const;
  const ext2 = { type: 'ext2', blockSize: 1024, inodeSize: 128 } as const;

  /** Runs a read with a stopwatch; the result or the DiskError code. */
  async function timed<T>(work: () => Promise<T>): Promise<{ value: T | string; ms: number }> {
    const started = performance.now();
    try {
      const value = await work();
      return { value, ms: performance.now() - started };
    } catch (error) {
      if (!(error instanceof DiskError)) throw error;
      return { value: error.code, ms: performance.now() - started };
    }
  }

  async function on(bytes: Uint8Array) {
    const { image } = await memoryImage(bytes);
    return {
      read: async (file: string, maxBytes?: number) => {
        const found = await readExtFile(image, 0, bytes.length, file, maxBytes);
        return found === null ? null : Buffer.from(found);
      },
      list: (folder: string) => listExtDirectory(image, 0, bytes.length, folder),
      release: () => linuxRelease(image, 0, bytes.length),
    };
  }

  it('symlinks that loop (on themselves, in pairs, through directories) end in null; 8 links are followed, 9 are not', async () => {
    const chain: Tree = { 'etc/hostname': 'h\n', 'etc/l0': { link: 'hostname' } };
    for (let i = 1; i <= 9; i++) chain[`etc/l${i}`] = { link: `l${i - 1}` };
    const path = makeVolume('loops', ext4, {
      ...chain,
      'etc/self': { link: 'self' },
      'etc/a': { link: 'b' },
      'etc/b': { link: 'a' },
      'etc/up': { link: '../etc/up' },
      'etc/dirloop': { link: '/etc/dirloop/x' },
    });
    const fs = await on(bytesOf(path));
    expect((await fs.read('/etc/l7'))!.length).toBe(2); // l7 -> ... -> l0 -> hostname: 8 links
    expect(await fs.read('/etc/l8')).toBeNull(); // 9 links
    for (const loop of ['/etc/self', '/etc/a', '/etc/up', '/etc/dirloop', '/etc/dirloop/x']) {
      const run = await timed(() => fs.read(loop));
      expect(run.value).toBeNull();
      expect(run.ms).toBeLessThan(100);
    }
    expect(await fs.list('/etc/self')).toBeNull();
  });

  it('an extent tree deeper than 5, or with a bad magic, makes the file unreadable (null)', async () => {
    const path = volumes.get(MATRIX[3]![0])!;
    const iblock = inodeOffset(path, '/etc/fragmented.bin', 4096) + 0x28;
    const base = bytesOf(path);
    expect(base.readUInt16LE(iblock)).toBe(0xf30a);
    expect(base.readUInt16LE(iblock + 6)).toBe(1);
    // Depth 6; depth 2 over children of depth 0; a huge depth; a bad magic; more entries than eh_max (4).
    for (const [field, value] of [[6, 6], [6, 2], [6, 0xffff], [0, 0x1234], [2, 5]] as const) {
      const bytes = Buffer.from(base);
      bytes.writeUInt16LE(value, iblock + field);
      const fs = await on(bytes);
      expect(await fs.read('/etc/fragmented.bin', 4 * MiB)).toBeNull();
      // The rest of the volume is untouched.
      expect((await fs.read('/etc/hostname'))!.toString()).toBe('web-01\n');
    }
  });

  it('block numbers past the volume: null for the file, never a read past the end', async () => {
    for (const [label, blockMap] of [[MATRIX[3]![0], false], [MATRIX[0]![0], true]] as const) {
      const path = volumes.get(label)!;
      const blockSize = label === MATRIX[0]![0] ? 1024 : 4096;
      const iblock = inodeOffset(path, '/etc/os-release', blockSize) + 0x28;
      const base = bytesOf(path);
      const totalBlocks = base.length / blockSize;
      for (const far of [totalBlocks, totalBlocks + 1000, 0xffffffff]) {
        const bytes = Buffer.from(base);
        // Classic map: the first direct block. Extents: the in-inode leaf's ee_start_lo.
        bytes.writeUInt32LE(far, blockMap ? iblock : iblock + 12 + 8);
        const { image, reads } = await memoryImage(bytes);
        expect(await readExtFile(image, 0, bytes.length, '/etc/os-release')).toBeNull();
        const found = await linuxRelease(image, 0, bytes.length);
        expect(found).toEqual({ kernels: KERNELS, source: null, fstab: null });
        for (const [at, length] of reads) expect(at + length).toBeLessThanOrEqual(bytes.length);
      }
    }
  });

  it('a directory entry with rec_len 0 (or past its block) ends that block without a hang', async () => {
    const path = makeVolume('reclen', ext2, { 'etc/os-release': 'ID=first\n', 'etc/zz-last': 'z\n' });
    const etcBlock = dataBlocks(path, '/etc')[0]! * 1024;
    const base = bytesOf(path);
    // Walk the block independently: '.', '..', then the two files in mke2fs's order.
    const names: [number, string][] = [];
    for (let at = 0; at < 1024; ) {
      const recLen = base.readUInt16LE(etcBlock + at + 4);
      names.push([at, base.toString('latin1', etcBlock + at + 8, etcBlock + at + 8 + base[etcBlock + at + 6]!)]);
      at += recLen;
    }
    expect(names.map(([, n]) => n).sort()).toEqual(['.', '..', 'os-release', 'zz-last']);
    for (const recLen of [0, 2, 4096, 0xfffc]) {
      const bytes = Buffer.from(base);
      const [at] = names.find(([, n]) => n === '..')!;
      bytes.writeUInt16LE(recLen, etcBlock + at + 4);
      const fs = await on(bytes);
      const run = await timed(() => fs.list('/etc'));
      expect(run.value).toEqual([]);
      expect(run.ms).toBeLessThan(100);
      expect(await fs.release()).toEqual({ kernels: [], source: null, fstab: null });
    }
  });

  it('meta_bg (descriptors spread over the volume) and unknown incompat features are refused', async () => {
    const meta = makeVolume('meta', { ...ext4, features: 'meta_bg,^resize_inode' }, { 'etc/os-release': 'ID=x\n' });
    expect(await release(meta)).toBeNull();
    const bytes = Buffer.from(bytesOf(volumes.get(MATRIX[3]![0])!));
    bytes.writeUInt32LE((bytes.readUInt32LE(1024 + 0x60) | 0x80000000) >>> 0, 1024 + 0x60);
    expect(await (await on(bytes)).release()).toBeNull();
  });

  it('an encrypted directory is not searched or listed', async () => {
    const path = volumes.get(MATRIX[3]![0])!;
    const flags = inodeOffset(path, '/etc', 4096) + 0x20;
    const bytes = Buffer.from(bytesOf(path));
    bytes.writeUInt32LE(bytes.readUInt32LE(flags) | 0x800, flags);
    const fs = await on(bytes);
    expect(await fs.list('/etc')).toBeNull();
    expect(await fs.read('/etc/hostname')).toBeNull();
    expect(await fs.release()).toEqual({ kernels: KERNELS, source: null, fstab: null });
  });

  it('impossible superblocks and descriptors give null: block size 2^17, no inodes per group, inode table past the end', async () => {
    const base = bytesOf(volumes.get(MATRIX[3]![0])!);
    const cases: [offset: number, value: number, width: 2 | 4][] = [
      [1024 + 0x18, 7, 4], // s_log_block_size: 128 KiB blocks
      [1024 + 0x28, 0, 4], // s_inodes_per_group
      [1024 + 0x58, 100, 2], // s_inode_size, not a power of two
      [4096 + 0x08, 0xfffffff0, 4], // group 0's inode table, far past the end
    ];
    for (const [at, value, width] of cases) {
      const bytes = Buffer.from(base);
      if (width === 2) bytes.writeUInt16LE(value, at);
      else bytes.writeUInt32LE(value, at);
      expect(await (await on(bytes)).release()).toBeNull();
    }
    // A volume cut short before its inode tables: nothing read past the cut.
    const { image, reads } = await memoryImage(base);
    expect(await linuxRelease(image, 0, 8 * KiB)).toBeNull();
    for (const [at, length] of reads) expect(at + length).toBeLessThanOrEqual(8 * KiB);
  });

  it('1000 mutants of superblock, descriptors, inode tables and directory blocks: results or DiskErrors, each < 100 ms', async () => {
    const targets = [MATRIX[0]![0], MATRIX[3]![0], MATRIX[7]![0]].map((label) => {
      const path = volumes.get(label)!;
      const bytes = Buffer.from(bytesOf(path));
      const blockSize = label === MATRIX[3]![0] ? 4096 : 1024;
      const gdt = (blockSize === 1024 ? 2 : 1) * blockSize;
      const inodes = ['/', '/etc', '/etc/os-release', '/boot', '/etc/fragmented.bin'].map((f) => {
        const at = inodeOffset(path, f, blockSize);
        return [at, at + (label === MATRIX[0]![0] ? 128 : 256)] as [number, number];
      });
      const dirs = ['/', '/etc', '/boot'].flatMap((f) => dataBlocks(path, f).slice(0, 2))
        .filter((b) => b > 0)
        .map((b) => [b * blockSize, (b + 1) * blockSize] as [number, number]);
      const regions: [number, number][] = [[1024, 1024 + 256], [gdt, gdt + 64], ...inodes, ...dirs];
      return { bytes, regions };
    });
    const { outcomes, slowestMs } = await runVolumeMutants(targets, 1000, 0xe4e4, async (image, size) => {
      const found = await linuxRelease(image, 0, size);
      await readExtFile(image, 0, size, '/etc/fragmented.bin', 256 * KiB);
      await listExtDirectory(image, 0, size, '/boot');
      return found === null ? 'null' : `${found.source ?? 'no source'}, ${found.kernels.length} kernels`;
    });
    expect(slowestMs).toBeLessThan(100);
    // Most damage leaves the release readable; some of it loses it (the mutants reach the walk).
    expect(outcomes.get('/etc/os-release, 2 kernels') ?? 0).toBeGreaterThan(300);
    expect(outcomes.size).toBeGreaterThan(2);
  });
});
