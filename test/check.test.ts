/**
 * Preflight rules on real images: the fixtures, plus disks built here with sgdisk/sfdisk/mkfs.fat/mtools/mke2fs
 * for the cases they lack (UEFI without the fallback loader, ARM64, MBR past 2 TiB, encrypted, dynamic, damaged,
 * oversized). Each case asserts the rule codes that must (and must not) fire and the ImportImage request.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { check, type CheckOptions, type CheckReport } from '../src/check.js';
import { fixture } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'diskport-check-'));
const MiB = 1024 * 1024;
const quiet = { stdio: 'ignore' as const, env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } };

function run(tool: string, args: string[], input?: string): void {
  execFileSync(tool, args, { ...quiet, ...(input === undefined ? {} : { input, stdio: ['pipe', 'ignore', 'ignore'] }) });
}

function codes(report: CheckReport): string[] {
  return report.findings.map((f) => f.code);
}

function errorCodes(report: CheckReport): string[] {
  return report.findings.filter((f) => f.severity === 'error').map((f) => f.code);
}

async function checked(path: string, options: CheckOptions = {}): Promise<CheckReport> {
  const report = await check(path, options);
  expect(report.error, JSON.stringify(report.error)).toBeUndefined();
  return report;
}

function writeAt(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** A new sparse file of `size` zero bytes. */
function blank(name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, size);
  return path;
}

/** A minimal PE image: MZ, e_lfanew = 0x40, "PE\0\0", Machine. */
function peLoader(machine: number): string {
  const bytes = Buffer.alloc(512);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(0x40, 0x3c);
  bytes.write('PE\0\0', 0x40, 'latin1');
  bytes.writeUInt16LE(machine, 0x44);
  const path = join(dir, `loader-${machine.toString(16)}.efi`);
  execFileSync('dd', ['of=' + path, 'status=none'], { input: bytes });
  return path;
}

/** GPT: ESP (FAT32, 40 MiB) holding `files` (ESP path -> local file) + an ext4 Linux partition. */
function uefiDisk(name: string, files: Record<string, string>, dirs: string[]): string {
  const path = blank(name, 96 * MiB);
  run('sgdisk', ['-n', '1:2048:+40M', '-t', '1:EF00', '-n', '2:0:0', '-t', '2:8300', path]);
  const espAt = 2048 * 512;
  run('mkfs.fat', ['-F', '32', '-S', '512', '--offset', '2048', path, String(40 * 1024)]);
  run('mmd', ['-i', `${path}@@${espAt}`, ...dirs.map((d) => `::/${d}`)]);
  for (const [target, source] of Object.entries(files)) run('mcopy', ['-i', `${path}@@${espAt}`, source, `::/${target}`]);
  const start = 2048 + 40 * 2048;
  run('mke2fs', ['-q', '-t', 'ext4', '-F', '-E', `offset=${start * 512}`, path, `${(96 * 1024) - (start / 2) - 1024}k`]);
  return path;
}

/** MBR with one partition record written by hand (sfdisk refuses some of what these tests need). */
function mbrDisk(name: string, size: number, record: { active: boolean; type: number; start: number; sectors: number }): string {
  const path = blank(name, size);
  const mbr = Buffer.alloc(512);
  mbr.write('\xeb\x63\x90diskport-bootcode', 0, 'latin1');
  mbr[446] = record.active ? 0x80 : 0;
  mbr[446 + 4] = record.type;
  mbr.writeUInt32LE(record.start, 446 + 8);
  mbr.writeUInt32LE(record.sectors, 446 + 12);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  writeAt(path, 0, mbr);
  return path;
}

let noFallback: string;
let arm64: string;
let withFallback: string;

beforeAll(() => {
  const x64 = peLoader(0x8664);
  const aa64 = peLoader(0xaa64);
  noFallback = uefiDisk('uefi-no-fallback.raw', { 'EFI/ubuntu/grubx64.efi': x64 }, ['EFI', 'EFI/ubuntu']);
  arm64 = uefiDisk('uefi-arm64.raw', { 'EFI/BOOT/BOOTAA64.EFI': aa64 }, ['EFI', 'EFI/BOOT']);
  withFallback = uefiDisk('uefi-x64.raw', { 'EFI/BOOT/BOOTX64.EFI': x64 }, ['EFI', 'EFI/BOOT']);
});

describe('images VM Import accepts', () => {
  it('a streamOptimized GPT disk that boots both ways: ok, BootMode left to VM Import, Linux x86_64', async () => {
    const report = await checked(fixture('gpt-uefi.vmdk'));
    expect(report.ok).toBe(true);
    expect(errorCodes(report)).toEqual([]);
    expect(codes(report)).toContain('BOOT_BOTH_MODES');
    expect(report.importImage).toEqual({
      DiskContainers: [{ Description: 'gpt-uefi.vmdk', Format: 'VMDK' }],
      Platform: 'Linux',
      Architecture: 'x86_64',
      ClientData: {
        UploadSize: Math.round((statSync(fixture('gpt-uefi.vmdk')).size / 2 ** 30) * 1e6) / 1e6,
        Comment: 'parameters from diskport check',
      },
    });
  });

  it('the same disk asked to boot with UEFI: BootMode uefi, no both-modes note', async () => {
    const report = await checked(fixture('gpt-uefi.vmdk'), { intent: { bootMode: 'uefi' } });
    expect(report.importImage?.BootMode).toBe('uefi');
    expect(codes(report)).not.toContain('BOOT_BOTH_MODES');
    expect(report.ok).toBe(true);
  });

  it.each([
    ['mbr-bios.vmdk', 'VMDK'],
    ['mbr-bios-dynamic.vhd', 'VHD'],
    ['mbr-bios.vhdx', 'VHDX'],
    ['mbr-bios.raw', 'RAW'],
  ])('%s: ok, BootMode legacy-bios, Format %s, S3 placement', async (name, format) => {
    const report = await checked(fixture(name), { placement: { bucket: 'my-bucket', prefix: 'vms/' } });
    expect(errorCodes(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.importImage).toMatchObject({
      DiskContainers: [{ Format: format, UserBucket: { S3Bucket: 'my-bucket', S3Key: `vms/${name}` } }],
      BootMode: 'legacy-bios',
      Platform: 'Linux',
    });
    expect(report.importImage).not.toHaveProperty('Architecture');
  });

  it('a UEFI-only Linux disk with \\EFI\\BOOT\\BOOTX64.EFI: BootMode uefi, x86_64 from the PE header', async () => {
    const report = await checked(withFallback);
    expect(errorCodes(report)).toEqual([]);
    expect(report.importImage).toMatchObject({ BootMode: 'uefi', Architecture: 'x86_64', Platform: 'Linux' });
  });
});

describe('format rules', () => {
  it('qcow2: FORMAT_UNSUPPORTED and no request', async () => {
    const report = await checked(fixture('mbr-bios.qcow2'));
    expect(errorCodes(report)).toEqual(['FORMAT_UNSUPPORTED']);
    expect(report.importImage).toBeNull();
    expect(report.findings[0]!.fix).toContain('streamOptimized');
  });

  it.each(['child-backing.qcow2', 'encrypted.qcow2'])('%s (refused by the reader): FORMAT_UNSUPPORTED, not unreadable', async (name) => {
    const report = await check(fixture(name));
    expect(report.error).toBeUndefined();
    expect(errorCodes(report)).toEqual(['FORMAT_UNSUPPORTED']);
    expect(report.ok).toBe(false);
  });

  it('monolithicSparse VMDK: VMDK_NOT_STREAM_OPTIMIZED', async () => {
    const report = await checked(fixture('mixed-sparse.vmdk'));
    expect(errorCodes(report)).toContain('VMDK_NOT_STREAM_OPTIMIZED');
    expect(codes(report)).not.toContain('VMDK_DESCRIPTOR_ONLY');
  });

  it('a flat VMDK descriptor: VMDK_DESCRIPTOR_ONLY (and not also the subformat rule)', async () => {
    const report = await checked(fixture('mixed-flat.vmdk'));
    expect(errorCodes(report)).toContain('VMDK_DESCRIPTOR_ONLY');
    expect(codes(report)).not.toContain('VMDK_NOT_STREAM_OPTIMIZED');
  });

  it('a VMDK snapshot child made by qemu-img: VMDK_SNAPSHOT_CHILD', async () => {
    const base = join(dir, 'base.vmdk');
    const child = join(dir, 'child.vmdk');
    run('qemu-img', ['create', '-f', 'vmdk', base, '16M']);
    run('qemu-img', ['create', '-f', 'vmdk', '-b', base, '-F', 'vmdk', child]);
    const report = await check(child);
    expect(report.error).toBeUndefined();
    expect(errorCodes(report)).toEqual(['VMDK_SNAPSHOT_CHILD']);
  });

  it('a RAW disk named .vmdk: FORMAT_EXTENSION_MISMATCH, and the request says RAW', async () => {
    const path = join(dir, 'really-raw.vmdk');
    copyFileSync(fixture('mbr-bios.raw'), path);
    const report = await checked(path);
    expect(codes(report)).toContain('FORMAT_EXTENSION_MISMATCH');
    expect(report.importImage?.DiskContainers[0]!.Format).toBe('RAW');
  });

  it('17 TiB: IMAGE_TOO_LARGE; 9 TiB: IMAGE_NEEDS_MANIFEST', async () => {
    const huge = join(dir, 'huge.vhdx');
    const big = join(dir, 'big.vhdx');
    run('qemu-img', ['create', '-f', 'vhdx', huge, '17T']);
    run('qemu-img', ['create', '-f', 'vhdx', big, '9T']);
    expect(errorCodes(await checked(huge))).toContain('IMAGE_TOO_LARGE');
    const report = await checked(big);
    expect(codes(report)).toContain('IMAGE_NEEDS_MANIFEST');
    expect(codes(report)).not.toContain('IMAGE_TOO_LARGE');
  });

  it('a truncated image is unreadable: error, no findings, no request', async () => {
    const path = join(dir, 'cut.vmdk');
    copyFileSync(fixture('mbr-bios.vmdk'), path);
    truncateSync(path, 1000);
    const report = await check(path);
    expect(report.ok).toBe(false);
    expect(report.error?.code).toMatch(/TRUNCATED|BAD_HEADER|OFFSET_OUT_OF_RANGE/);
    expect(report.importImage).toBeNull();
  });
});

describe('boot rules', () => {
  it('no partition table: PT_NONE, unless the disk is a data disk of a VM that boots from another', async () => {
    expect(errorCodes(await checked(fixture('odd.raw')))).toContain('PT_NONE');
    const data = await checked(fixture('odd.raw'), { role: 'data' });
    expect(data.ok).toBe(true);
    expect(codes(data)).toEqual([]);
  });

  it('UEFI-only Linux without the fallback loader: UEFI_LINUX_NO_FALLBACK naming the vendor folder', async () => {
    const report = await checked(noFallback);
    expect(errorCodes(report)).toEqual(['UEFI_LINUX_NO_FALLBACK']);
    expect(report.findings[0]!.message).toMatch(/ubuntu/i);
    expect(report.importImage?.BootMode).toBe('uefi');
  });

  it('… unless the platform is Windows (its loader is \\EFI\\Microsoft\\Boot)', async () => {
    const report = await checked(noFallback, { intent: { platform: 'Windows' } });
    expect(codes(report)).not.toContain('UEFI_LINUX_NO_FALLBACK');
    expect(report.importImage?.Platform).toBe('Windows');
  });

  it('an ARM64 loader: ARCH_ARM64, and no Architecture in the request', async () => {
    const report = await checked(arm64);
    expect(errorCodes(report)).toContain('ARCH_ARM64');
    expect(report.importImage).not.toHaveProperty('Architecture');
  });

  it('a BIOS-only disk asked to boot UEFI: UEFI_BOOTMODE_MISMATCH; uefi-preferred: BOOTMODE_UEFI_PREFERRED', async () => {
    expect(errorCodes(await checked(fixture('mbr-bios.vmdk'), { intent: { bootMode: 'uefi' } }))).toContain('UEFI_BOOTMODE_MISMATCH');
    const preferred = await checked(fixture('gpt-uefi.vmdk'), { intent: { bootMode: 'uefi-preferred' } });
    expect(errorCodes(preferred)).toContain('BOOTMODE_UEFI_PREFERRED');
    expect(preferred.importImage).not.toHaveProperty('BootMode');
  });

  it('an MBR with no active partition: BOOT_NO_BOOTABLE_PARTITION', async () => {
    const path = mbrDisk('inactive.raw', 32 * MiB, { active: false, type: 0x83, start: 2048, sectors: 60000 });
    expect(errorCodes(await checked(path))).toContain('BOOT_NO_BOOTABLE_PARTITION');
  });

  it('an MBR partition past 2 TiB on a 3 TiB disk: MBR_OVER_2TIB and MBR_DISK_OVER_2TIB', async () => {
    const path = mbrDisk('mbr-3t.raw', 3 * 2 ** 40, { active: true, type: 0x83, start: 2048, sectors: 0xffffffff });
    const report = await checked(path);
    expect(errorCodes(report)).toContain('MBR_OVER_2TIB');
    expect(codes(report)).toContain('MBR_DISK_OVER_2TIB');
  });

  it('a Windows dynamic disk (type 0x42): WIN_DYNAMIC_DISK', async () => {
    const path = mbrDisk('ldm.raw', 32 * MiB, { active: true, type: 0x42, start: 2048, sectors: 60000 });
    expect(codes(await checked(path))).toContain('WIN_DYNAMIC_DISK');
  });

  it('a LUKS partition: GUEST_ENCRYPTED_VOLUME', async () => {
    const path = mbrDisk('luks.raw', 32 * MiB, { active: true, type: 0x83, start: 2048, sectors: 60000 });
    const header = Buffer.alloc(1024);
    Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0x00, 0x01]).copy(header, 0);
    writeAt(path, 2048 * 512, header);
    expect(errorCodes(await checked(path))).toContain('GUEST_ENCRYPTED_VOLUME');
  });

  it('a bootable disk with no root file system: FS_UNSUPPORTED', async () => {
    const path = mbrDisk('empty-part.raw', 32 * MiB, { active: true, type: 0x83, start: 2048, sectors: 60000 });
    const report = await checked(path);
    expect(errorCodes(report)).toContain('FS_UNSUPPORTED');
  });

  it('a damaged primary GPT header: PARTITION_TABLE_DAMAGED (a warning), still ok', async () => {
    const path = join(dir, 'gpt-damaged.raw');
    copyFileSync(fixture('gpt-uefi.raw'), path);
    writeAt(path, 512 + 16, Buffer.from([0xde, 0xad]));
    const report = await checked(path);
    expect(codes(report)).toContain('PARTITION_TABLE_DAMAGED');
    expect(report.ok).toBe(true);
  });
});

describe('the rule list', () => {
  it('README documents every rule code, and every rule has a requirement', async () => {
    const { RULES, RULE_CODES } = await import('../src/preflight/index.js');
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    for (const code of RULE_CODES) expect(readme, code).toContain(`| \`${code}\` |`);
    for (const rule of RULES) expect(rule.requirement.length, rule.code).toBeGreaterThan(10);
    expect(new Set(RULES.map((rule) => rule.code)).size).toBe(RULES.length);
  });
});

describe('streamed inspection (a pipe)', () => {
  it('the first EBR (at the extended partition\'s head) is kept; a longer chain leaves the table unread (null), never guessed', async () => {
    const { createReadStream } = await import('node:fs');
    const { ForwardSource } = await import('../src/source/forward.js');
    const { inspectDisk } = await import('./helpers.js');
    const layout = (logicals: number) => 'label: dos\nstart=2048, size=20480, type=83, bootable\nstart=40960, type=5\n' +
      Array.from({ length: logicals }, (_, i) => `start=${43008 + i * 12288}, size=8192, type=83\n`).join('');
    for (const [logicals, indexes] of [[1, [1, 2, 5]], [3, [1, 2, 5, 6, 7]]] as const) {
      const path = blank(`logical-${logicals}.raw`, 64 * MiB);
      run('sfdisk', ['-q', path], layout(logicals));
      const file = await inspectDisk(path);
      expect(file.partitions?.map((p) => p.index)).toEqual(indexes);
      const piped = await inspectDisk(new ForwardSource('pipe', createReadStream(path)), { format: 'raw' });
      expect(piped.virtualSize).toBe(64 * MiB);
      if (logicals === 1) {
        expect(piped.partitions).toEqual(file.partitions);
      } else {
        expect(piped.partitions).toBeNull();
        expect(piped.partitionTable).toBeNull();
      }
    }
  });

  it('a GPT disk with a damaged primary header through a pipe: the backup is read from the kept tail', async () => {
    const path = join(dir, 'gpt-bad-primary.raw');
    copyFileSync(fixture('gpt-uefi.raw'), path);
    writeAt(path, 512 + 16, Buffer.from([0xde, 0xad]));
    const { createReadStream } = await import('node:fs');
    const { ForwardSource } = await import('../src/source/forward.js');
    const { inspectDisk } = await import('./helpers.js');
    const file = await inspectDisk(path);
    const piped = await inspectDisk(new ForwardSource('pipe', createReadStream(path)), { format: 'raw' });
    expect(file.partitionProblems.length).toBeGreaterThan(0);
    expect(piped.partitionProblems).toEqual(file.partitionProblems);
    expect(piped.bootMode).toBe('uefi-preferred');
  });
});

describe('Linux roots (ext4 populated with mke2fs -d)', () => {
  /** MBR disk: one active ext4 partition per root folder given, each filled from that folder. */
  function linuxDisk(name: string, roots: Record<string, string>[]): string {
    const path = blank(name, (2 + roots.length * 24) * MiB);
    const lines = roots.map((_, i) => `start=${2048 + i * 24 * 2048}, size=${24 * 2048}, type=83${i === 0 ? ', bootable' : ''}`);
    run('sfdisk', ['-q', path], `label: dos\n${lines.join('\n')}\n`);
    roots.forEach((files, i) => {
      const root = mkdtempSync(join(dir, 'root-'));
      for (const [file, text] of Object.entries(files)) {
        execFileSync('mkdir', ['-p', join(root, file, '..')]);
        writeFileSync(join(root, file), text);
      }
      run('mke2fs', ['-q', '-t', 'ext4', '-F', '-d', root, '-E', `offset=${(2048 + i * 24 * 2048) * 512}`, path, `${24 * 1024}k`]);
    });
    return path;
  }
  const ubuntu = { 'etc/os-release': 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n' };

  it('a root with os-release and a kernel: Linux from the release, no kernel warning', async () => {
    const path = linuxDisk('linux-root.raw', [{ ...ubuntu, 'boot/vmlinuz-5.15.0-91-generic': 'kernel' }]);
    const report = await checked(path);
    expect(report.guest?.evidence.join(' ')).toContain('Ubuntu 22.04.4 LTS');
    expect(report.importImage?.Platform).toBe('Linux');
    expect(codes(report)).not.toContain('KERNEL_UNDETECTABLE');
    const partition = (report.inspect as import('../src/inspect.js').DiskReport).partitions![0]!;
    expect(partition.linux).toMatchObject({ id: 'ubuntu', versionId: '22.04', kernels: ['5.15.0-91-generic'] });
  });

  it('a root without any kernel: KERNEL_UNDETECTABLE; a separate /boot partition with one silences it', async () => {
    expect(codes(await checked(linuxDisk('no-kernel.raw', [ubuntu])))).toContain('KERNEL_UNDETECTABLE');
    const split = await checked(linuxDisk('split-boot.raw', [ubuntu, { 'vmlinuz-6.1.0-13-amd64': 'kernel' }]));
    expect(codes(split)).not.toContain('KERNEL_UNDETECTABLE');
    expect(codes(split)).not.toContain('LINUX_MULTIPLE_ROOTS');
  });

  it('fstab: missing -> LINUX_FSTAB_UNREADABLE; device names -> LINUX_FSTAB_DEVICE_NAMES; cifs -> LINUX_FSTAB_NETWORK_FS', async () => {
    const kernel = { 'boot/vmlinuz-5.15.0-91-generic': 'kernel' };
    expect(codes(await checked(linuxDisk('no-fstab.raw', [{ ...ubuntu, ...kernel }])))).toContain('LINUX_FSTAB_UNREADABLE');
    const byUuid = await checked(linuxDisk('uuid-fstab.raw', [{ ...ubuntu, ...kernel, 'etc/fstab': 'UUID=1234-abcd / ext4 defaults 0 1\n' }]));
    expect(codes(byUuid).filter((c) => c.startsWith('LINUX_FSTAB'))).toEqual([]);
    const fstab = '# static\n/dev/sda1 / ext4 errors=remount-ro 0 1\n//nas/share /mnt/my\\040share cifs credentials=/root/c 0 0\nbroken-line\n';
    const report = await checked(linuxDisk('devname-fstab.raw', [{ ...ubuntu, ...kernel, 'etc/fstab': fstab }]));
    expect(codes(report)).toEqual(expect.arrayContaining(['LINUX_FSTAB_DEVICE_NAMES', 'LINUX_FSTAB_NETWORK_FS']));
    expect(report.findings.find((f) => f.code === 'LINUX_FSTAB_DEVICE_NAMES')!.message).toContain('/dev/sda1 on /');
    expect(report.findings.find((f) => f.code === 'LINUX_FSTAB_NETWORK_FS')!.message).toContain('/mnt/my share (cifs)');
    const partition = (report.inspect as import('../src/inspect.js').DiskReport).partitions![0]!;
    expect(partition.linux?.fstab).toEqual([
      { spec: '/dev/sda1', mountPoint: '/', type: 'ext4', options: ['errors=remount-ro'] },
      { spec: '//nas/share', mountPoint: '/mnt/my share', type: 'cifs', options: ['credentials=/root/c'] },
    ]);
  });

  it('\\Windows\\System32 on NTFS: Platform Windows; beside a Linux root: DUAL_BOOT', async () => {
    const { makeNtfs, windowsVolume } = await import('./ntfs-builder.js');
    const ntfs = windowsVolume(makeNtfs(join(dir, 'win.ntfs'), 4096, 16 * MiB));
    const windowsOnly = blank('windows.raw', 20 * MiB);
    run('sfdisk', ['-q', windowsOnly], 'label: dos\nstart=2048, size=32768, type=7, bootable\n');
    writeAt(windowsOnly, 2048 * 512, ntfs);
    const report = await checked(windowsOnly);
    expect(report.importImage?.Platform).toBe('Windows');
    expect(report.guest?.evidence.join(' ')).toContain('System32');
    const both = linuxDisk('dual.raw', [{ ...ubuntu, 'boot/vmlinuz-5.15.0-91-generic': 'k', 'etc/fstab': 'UUID=1 / ext4 defaults 0 1\n' }, {}]);
    writeAt(both, (2048 + 24 * 2048) * 512, ntfs);
    expect(errorCodes(await checked(both))).toContain('DUAL_BOOT');
  });

  it('two roots on the boot disk: LINUX_MULTIPLE_ROOTS', async () => {
    const report = await checked(linuxDisk('two-roots.raw', [
      { ...ubuntu, 'boot/vmlinuz-5.15.0-91-generic': 'k' },
      { 'etc/redhat-release': 'Red Hat Enterprise Linux release 8.6 (Ootpa)\n', 'boot/vmlinuz-4.18.0-372.el8.x86_64': 'k' },
    ]));
    expect(errorCodes(report)).toContain('LINUX_MULTIPLE_ROOTS');
    expect(report.findings.find((f) => f.code === 'LINUX_MULTIPLE_ROOTS')!.message).toMatch(/Ubuntu.*Red Hat|Ubuntu.*rhel/);
  });
});

describe('hostile disks through the whole preflight', () => {
  it('400 mutants of a GPT/ESP/ext4 disk and an MBR disk: check() always answers (report or unreadable), never INTERNAL', async () => {
    const { mutateInPlace, seeded } = await import('./helpers.js');
    const { MemorySource } = await import('../src/source/memory.js');
    const { inspect } = await import('../src/inspect.js');
    const { subjectOf } = await import('../src/check.js');
    const { runRules, buildImportImageRequest } = await import('../src/preflight/index.js');
    const { readFileSync: read } = await import('node:fs');
    // Regions that steer the readers: MBR + GPT header + entries, the ESP's boot sector, FAT and root, the ext
    // superblock and group descriptors (gpt-uefi: ESP at 2 MiB, ext4 at 42 MiB; mbr-bios: ext4 at 1 MiB).
    const targets = [
      { bytes: read(fixture('gpt-uefi.raw')), regions: [[0, 34 * 512], [2 * MiB, 2 * MiB + 64 * 1024], [42 * MiB + 1024, 42 * MiB + 8192]] },
      { bytes: read(fixture('mbr-bios.raw')), regions: [[0, 512], [MiB + 1024, MiB + 8192]] },
    ] as { bytes: Uint8Array; regions: [number, number][] }[];
    const random = seeded(0xc4ec);
    const outcomes = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const { bytes, regions } = targets[i % targets.length]!;
      const restore = mutateInPlace(bytes, random, regions);
      try {
        const report = await inspect(new MemorySource('mutant', bytes), { format: 'raw' });
        const subject = subjectOf('mutant.raw', report, {});
        const findings = runRules(subject);
        buildImportImageRequest([subject]);
        outcomes.add(findings.filter((f) => f.severity === 'error').map((f) => f.code).join('+') || 'ok');
      } catch (error) {
        expect((error as { code?: string }).code, String(error)).toBeDefined();
        expect((error as { code?: string }).code).not.toBe('INTERNAL');
        outcomes.add(`error:${(error as { code: string }).code}`);
      } finally {
        restore();
      }
    }
    expect(outcomes.size).toBeGreaterThan(2); // the mutants reach different verdicts, not one blanket failure
  });
});
