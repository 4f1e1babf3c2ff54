/**
 * Preflight rules on OVAs: packages built here from the real fixture disks (GNU tar where a plain layout does, the
 * hand builder of ova-builder.ts for names tar will not write), each asserting the exact rule codes check() reports
 * and the ImportImage request; then the same packages from a pipe (in process, and through the built CLI).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, subjectOf, type CheckOptions, type CheckReport } from '../src/check.js';
import type { Finding } from '../src/preflight/index.js';
import { inspect, type OvaReport } from '../src/inspect.js';
import { buildImportImageRequest, runRules } from '../src/preflight/index.js';
import { ForwardSource } from '../src/source/forward.js';
import { fixture, manifest } from './helpers.js';
import { FORMAT_URI, applianceOvf, ovfXml, tarOf, type Appliance, type ApplianceDisk } from './ova-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'diskport-check-ova-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const LINUX_EFI = { osType: 'ubuntu64Guest', firmware: 'efi' } as const;
const LINUX_BIOS = { osType: 'ubuntu64Guest', firmware: 'bios' } as const;

// --- building packages -------------------------------------------------------------------------------------------

/** A member's content: bytes or text, or a symbolic link to the given target. */
type Content = Uint8Array | string | { symlink: string };
type Members = [name: string, content: Content][];

/** Writes the members into a scratch folder and packs them, in this order, with GNU tar (ustar). */
function gnuOva(name: string, members: Members): string {
  const folder = mkdtempSync(join(dir, 'pack-'));
  try {
    for (const [member, content] of members) {
      const path = join(folder, member);
      mkdirSync(dirname(path), { recursive: true });
      if (typeof content === 'object' && 'symlink' in content) symlinkSync(content.symlink, path);
      else writeFileSync(path, content);
    }
    const out = join(dir, name);
    execFileSync('tar', ['--format=ustar', '--no-recursion', '-cf', out, '-C', folder, ...members.map(([member]) => member)]);
    return out;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

interface Disk extends ApplianceDisk {
  bytes: Uint8Array;
}

/** The ovf:format producers write for a file of this name. */
function uriFor(name: string): string | undefined {
  if (name.endsWith('.vmdk')) return FORMAT_URI.streamOptimized;
  if (name.endsWith('.vhd')) return FORMAT_URI.vhd;
  return undefined;
}

/** A disk entry holding a file, declared as producers do: true capacity, File size, format URI by extension. */
function diskFrom(path: string, href: string, capacity: number, changes: Partial<Disk> = {}): Disk {
  const bytes = readFileSync(path);
  const format = uriFor(href);
  return { href, bytes, capacity, size: bytes.length, ...(format === undefined ? {} : { format }), ...changes };
}

/** A fixture as a disk entry; its capacity from the fixture manifest. */
function fixtureDisk(name: string, href = name, changes: Partial<Disk> = {}): Disk {
  const facts = manifest.find((image) => image.file === name);
  if (facts === undefined) throw new Error(`${name} is not in the fixture manifest`);
  return diskFrom(fixture(name), href, facts.virtualSize, changes);
}

/** OVF first, then the disks, as ovftool packs them. */
function packageOf(disks: Disk[], vm: Omit<Appliance, 'disks'> = LINUX_EFI, name = 'vm'): Members {
  return [[`${name}.ovf`, applianceOvf({ ...vm, disks })], ...disks.map((disk): [string, Content] => [disk.href, disk.bytes])];
}

const sha256 = (content: Uint8Array | string) => createHash('sha256').update(content).digest('hex');

/** A SHA256 manifest line for each member named (all but symlinks). */
function manifestOf(members: Members, names = members.map(([name]) => name)): string {
  return members
    .filter(([name, content]) => names.includes(name) && !(typeof content === 'object' && 'symlink' in content))
    .map(([name, content]) => `SHA256(${name})= ${sha256(content as Uint8Array | string)}\n`)
    .join('');
}

// --- reading reports ---------------------------------------------------------------------------------------------

/** The codes that fired, sorted (the report's own order is by severity, then rule list). */
function codes(report: { findings: Finding[] }): string[] {
  return report.findings.map((f) => f.code).sort();
}

function finding(report: { findings: Finding[] }, code: string): Finding {
  const found = report.findings.find((f) => f.code === code);
  expect(found, `${code} in ${codes(report).join(', ')}`).toBeDefined();
  return found!;
}

/** check() of a package that must be readable. */
async function checked(path: string, options: CheckOptions = {}): Promise<CheckReport & { inspect: OvaReport }> {
  const report = await check(path, options);
  expect(report.error, JSON.stringify(report.error)).toBeUndefined();
  expect(report.inspect?.format).toBe('ova');
  return report as CheckReport & { inspect: OvaReport };
}

const uploadSize = (bytes: number) => Math.round((bytes / GiB) * 1e6) / 1e6;

/** What check says of the OVA read through a pipe: inspect() over a ForwardSource, then the same rules. */
async function checkedFromPipe(path: string, options: CheckOptions = {}) {
  const report = await inspect(new ForwardSource('-', createReadStream(path, { highWaterMark: MiB })), options);
  expect(report.format).toBe('ova');
  const subject = subjectOf('-', report, options.intent ?? {});
  return { report: report as OvaReport, findings: runRules(subject), importImage: buildImportImageRequest([subject]) ?? null };
}

/** An MBR disk (streamOptimized VMDK) with an extended partition holding three logicals. */
let ebrChain: string;

beforeAll(() => {
  // An MBR with three logical partitions: the EBR chain runs deep into the disk, past what a pipe keeps.
  const raw = join(dir, 'ebr-chain.raw');
  writeFileSync(raw, '');
  truncateSync(raw, 64 * MiB);
  const layout = 'label: dos\nstart=2048, size=20480, type=83, bootable\nstart=40960, type=5\n' +
    [0, 1, 2].map((i) => `start=${43008 + i * 12288}, size=8192, type=83\n`).join('');
  execFileSync('sfdisk', ['-q', raw], { input: layout, stdio: ['pipe', 'ignore', 'ignore'] });
  ebrChain = join(dir, 'ebr-chain.vmdk');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, ebrChain]);
  rmSync(raw);
});

// --- what VM Import takes ----------------------------------------------------------------------------------------

describe('an OVA VM Import takes', () => {
  it('one streamOptimized GPT/UEFI disk, firmware efi, ubuntu64Guest: ok, the OVA request with BootMode uefi', async () => {
    const path = gnuOva('uefi.ova', packageOf([fixtureDisk('gpt-uefi.vmdk', 'disk1.vmdk')], LINUX_EFI));
    const report = await checked(path, { placement: { bucket: 'b', prefix: 'vms/' } });
    expect(codes(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.importImage).toEqual({
      DiskContainers: [{ Description: 'uefi.ova', Format: 'OVA', UserBucket: { S3Bucket: 'b', S3Key: 'vms/uefi.ova' } }],
      BootMode: 'uefi',
      Architecture: 'x86_64',
      Platform: 'Linux',
      ClientData: { UploadSize: uploadSize(statSync(path).size), Comment: 'parameters from diskport check' },
    });
    expect(report.guest).toMatchObject({ platform: 'Linux', architecture: 'x86_64', bootMode: 'uefi-preferred', firmware: 'efi' });
    expect(report.inspect.disks.map((d) => [d.href, d.format, d.subformat, d.partitionTable])).toEqual([['disk1.vmdk', 'vmdk', 'streamOptimized', 'gpt']]);
  });

  it.each([
    ['gpt-uefi.vmdk', 'bios', [], 'legacy-bios'],
    ['gpt-uefi.vmdk', 'efi', [], 'uefi'],
    ['mbr-bios.vmdk', 'bios', [], 'legacy-bios'],
    ['mbr-bios.vmdk', 'efi', ['UEFI_BOOTMODE_MISMATCH'], 'legacy-bios'],
  ] as const)('%s with OVF firmware %s: %j, BootMode %s', async (disk, firmware, expected, bootMode) => {
    const path = gnuOva(`fw-${disk}-${firmware}.ova`, packageOf([fixtureDisk(disk, 'disk1.vmdk')], { osType: 'ubuntu64Guest', firmware }));
    const report = await checked(path);
    expect(codes(report)).toEqual(expected);
    expect(report.ok).toBe(expected.length === 0);
    // The request asks for the way the disk boots (gpt-uefi boots both: the firmware picks), never the OVF's wish.
    expect(report.importImage?.BootMode).toBe(bootMode);
    if (expected.length > 0) {
      const mismatch = finding(report, 'UEFI_BOOTMODE_MISMATCH');
      expect(mismatch.disk).toBe('disk1.vmdk');
      expect(mismatch.message).toMatch(/disk1\.vmdk boots only with a legacy BIOS.*firmware \(efi\)/);
    }
  });

  it('boot disk + two data disks (one a VHD): boot rules judge only the first; virtualSize is the sum', async () => {
    const disks = [
      fixtureDisk('gpt-uefi.vmdk', 'boot.vmdk'),
      fixtureDisk('mbr-bios.vmdk', 'data1.vmdk'), // BIOS-only: would be UEFI_BOOTMODE_MISMATCH under firmware efi
      fixtureDisk('mixed-dynamic.vhd', 'data2.vhd'), // no partition table: would be PT_NONE
    ];
    const report = await checked(gnuOva('three.ova', packageOf(disks, LINUX_EFI)));
    expect(codes(report)).toEqual([]);
    expect(report.inspect.disks.map((d) => [d.href, d.format])).toEqual([['boot.vmdk', 'vmdk'], ['data1.vmdk', 'vmdk'], ['data2.vhd', 'vhd']]);
    expect(report.inspect.virtualSize).toBe((64 + 32 + 40) * MiB);
    expect(report.inspect.bootMode).toBe('uefi-preferred');
    expect(report.importImage).toMatchObject({ BootMode: 'uefi', DiskContainers: [{ Format: 'OVA' }] });

    // The same disks with the VHD first: now it is the boot disk, and the boot rules say so.
    const reordered = await checked(gnuOva('three-vhd-first.ova', packageOf([disks[2]!, disks[0]!, disks[1]!], LINUX_EFI)));
    expect(codes(reordered)).toEqual(['PT_NONE']);
    expect(finding(reordered, 'PT_NONE').disk).toBe('data2.vhd');
  });

  it('22 disks: TOO_MANY_VOLUMES (21 is the most); 21 disks: not', async () => {
    const disks = (count: number) => Array.from({ length: count }, (_, i) => fixtureDisk('empty-stream.vmdk', `disk${i}.vmdk`));
    const many = await checked(gnuOva('22.ova', packageOf(disks(22), LINUX_BIOS)));
    // The empty boot disk has no partition table as well.
    expect(codes(many)).toEqual(['PT_NONE', 'TOO_MANY_VOLUMES']);
    expect(finding(many, 'TOO_MANY_VOLUMES').message).toMatch(/holds 22 disks.*at most 21/);
    expect(many.inspect.virtualSize).toBe(22 * 3 * MiB);
    expect(codes(await checked(gnuOva('21.ova', packageOf(disks(21), LINUX_BIOS))))).toEqual(['PT_NONE']);
  });
});

// --- the package against its OVF --------------------------------------------------------------------------------

describe('the OVF against what the package holds', () => {
  it('an OVF that references no disk: OVA_NO_DISKS', async () => {
    const report = await checked(gnuOva('nodisk.ova', packageOf([], LINUX_BIOS)));
    expect(codes(report)).toEqual(['OVA_NO_DISKS']);
    expect(report.ok).toBe(false);
    expect(finding(report, 'OVA_NO_DISKS').message).toContain('vm.ovf');
    expect(report.importImage).toBeNull(); // nothing to import: no request
  });

  it('capacity that is not the disk\'s size: OVF_CAPACITY_MISMATCH (a warning), with both numbers', async () => {
    const report = await checked(gnuOva('capacity.ova', packageOf([fixtureDisk('gpt-uefi.vmdk', 'disk1.vmdk', { capacity: 128 * MiB })])));
    expect(codes(report)).toEqual(['OVF_CAPACITY_MISMATCH']);
    expect(report.ok).toBe(true);
    const hit = finding(report, 'OVF_CAPACITY_MISMATCH');
    expect(hit.disk).toBe('disk1.vmdk');
    expect(hit.message).toContain(`declares ${128 * MiB} bytes, the disk is ${64 * MiB} bytes`);
  });

  it('a File ovf:size that is not the entry\'s size: OVF_FILE_SIZE_MISMATCH', async () => {
    const disk = fixtureDisk('gpt-uefi.vmdk', 'disk1.vmdk');
    const report = await checked(gnuOva('filesize.ova', packageOf([{ ...disk, size: disk.bytes.length + 1 }])));
    expect(codes(report)).toEqual(['OVF_FILE_SIZE_MISMATCH']);
    expect(finding(report, 'OVF_FILE_SIZE_MISMATCH').message).toBe(`disk1.vmdk: the OVF says ${disk.bytes.length + 1} bytes, the OVA holds ${disk.bytes.length}`);
  });

  it('#streamOptimized announced on a monolithicSparse VMDK: OVF_FORMAT_MISMATCH and VMDK_NOT_STREAM_OPTIMIZED naming the entry', async () => {
    const sparse = join(dir, 'sparse.vmdk');
    execFileSync('qemu-img', ['convert', '-f', 'vmdk', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', fixture('gpt-uefi.vmdk'), sparse]);
    const wrong = await checked(gnuOva('sparse-as-stream.ova', packageOf([diskFrom(sparse, 'disk1.vmdk', 64 * MiB)])));
    expect(codes(wrong)).toEqual(['OVF_FORMAT_MISMATCH', 'VMDK_NOT_STREAM_OPTIMIZED']);
    expect(finding(wrong, 'OVF_FORMAT_MISMATCH').message).toMatch(/^disk1\.vmdk: the OVF announces streamOptimized .* but the file is vmdk monolithicSparse$/);
    const subformat = finding(wrong, 'VMDK_NOT_STREAM_OPTIMIZED');
    expect(subformat.disk).toBe('disk1.vmdk');
    expect(subformat.message).toMatch(/^disk1\.vmdk is a monolithicSparse VMDK with uncompressed grains/);
    expect(subformat.fix).toContain('disk1.vmdk');
    // Announced for what it is (#sparse), only the subformat rule remains.
    const honest = await checked(gnuOva('sparse-as-sparse.ova', packageOf([diskFrom(sparse, 'disk1.vmdk', 64 * MiB, { format: FORMAT_URI.sparse })])));
    expect(codes(honest)).toEqual(['VMDK_NOT_STREAM_OPTIMIZED']);
  });
});

// --- layout, manifest, certificate -------------------------------------------------------------------------------

describe('the package layout, its manifest and certificate', () => {
  const disk = () => fixtureDisk('gpt-uefi.vmdk', 'disk1.vmdk');

  it('the OVF after the disks: OVA_OVF_NOT_FIRST, an info (still ok)', async () => {
    const [ovf, ...disks] = packageOf([disk()]);
    const report = await checked(gnuOva('ovf-last.ova', [...disks, ovf!]));
    expect(codes(report)).toEqual(['OVA_OVF_NOT_FIRST']);
    expect(report.findings[0]!.severity).toBe('info');
    expect(report.ok).toBe(true);
    expect(report.findings[0]!.message).toBe('the OVF descriptor vm.ovf is not the OVA\'s first file (disk1.vmdk is)');
  });

  it('a manifest: OVA_MANIFEST_NOT_VERIFIED without --verify, nothing with it when every digest is right', async () => {
    const members = packageOf([disk()]);
    const path = gnuOva('manifest.ova', [members[0]!, ['vm.mf', manifestOf(members)], ...members.slice(1)]);
    const plain = await checked(path);
    expect(codes(plain)).toEqual(['OVA_MANIFEST_NOT_VERIFIED']);
    expect(plain.findings[0]!.message).toContain('vm.mf, sha256');
    const verified = await checked(path, { verify: true });
    expect(codes(verified)).toEqual([]);
    expect(verified.inspect.verification?.checked).toEqual(['vm.ovf', 'disk1.vmdk']);
  });

  it('a certificate: OVA_CERTIFICATE_NOT_CHECKED; it is not an entry the manifest must cover', async () => {
    const members = packageOf([disk()]);
    const path = gnuOva('cert.ova', [members[0]!, ['vm.mf', manifestOf(members)], ['vm.cert', 'SHA256(vm.mf)= 00\n-----BEGIN CERTIFICATE-----\n'], ...members.slice(1)]);
    expect(codes(await checked(path))).toEqual(['OVA_CERTIFICATE_NOT_CHECKED', 'OVA_MANIFEST_NOT_VERIFIED']);
    const verified = await checked(path, { verify: true });
    expect(codes(verified)).toEqual(['OVA_CERTIFICATE_NOT_CHECKED']);
    expect(verified.findings[0]!.message).toContain('vm.cert');
  });

  it('with --verify: a wrong digest and a line for a missing file are OVA_MANIFEST_MISMATCH (errors); an unlisted entry OVA_MANIFEST_INCOMPLETE', async () => {
    const members: Members = [...packageOf([disk()]), ['notes.txt', 'read me\n']];
    const good = manifestOf(members, ['vm.ovf', 'disk1.vmdk']);
    const wrongDigest = good.replace(/(disk1\.vmdk\)= )(.)/, (_, lead: string, first: string) => `${lead}${first === '0' ? '1' : '0'}`);
    const pack = (name: string, mf: string) => gnuOva(name, [members[0]!, ['vm.mf', mf], ...members.slice(1)]);

    const damaged = await checked(pack('wrong-digest.ova', `${wrongDigest}SHA256(notes.txt)= ${sha256('read me\n')}\n`), { verify: true });
    expect(codes(damaged)).toEqual(['OVA_MANIFEST_MISMATCH']);
    expect(damaged.ok).toBe(false);
    const mismatch = finding(damaged, 'OVA_MANIFEST_MISMATCH');
    expect(mismatch).toMatchObject({ severity: 'error', disk: 'disk1.vmdk' });
    expect(mismatch.message).toMatch(/^disk1\.vmdk: its sha256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
    // Without --verify the same package only says the manifest was not checked.
    expect(codes(await checked(pack('wrong-digest-unverified.ova', wrongDigest)))).toEqual(['OVA_MANIFEST_NOT_VERIFIED']);

    const gone = await checked(pack('gone.ova', `${good}SHA256(notes.txt)= ${sha256('read me\n')}\nSHA1(gone.iso)= ${'0'.repeat(40)}\n`), { verify: true });
    expect(codes(gone)).toEqual(['OVA_MANIFEST_MISMATCH']);
    expect(finding(gone, 'OVA_MANIFEST_MISMATCH').message).toBe('the manifest lists gone.iso, which the OVA does not hold');

    const unlisted = await checked(pack('unlisted.ova', good), { verify: true });
    expect(codes(unlisted)).toEqual(['OVA_MANIFEST_INCOMPLETE']);
    expect(unlisted.ok).toBe(true);
    expect(finding(unlisted, 'OVA_MANIFEST_INCOMPLETE')).toMatchObject({ severity: 'warning', message: 'the manifest does not cover notes.txt' });
  });

  // With no manifest at all every entry is "unlisted" in the verification; the rule must not blame a manifest that
  // is not there (it used to say "the manifest does not cover vm.ovf, disk1.vmdk").
  it('with --verify and no manifest: no OVA_MANIFEST_INCOMPLETE about a manifest that is not there', async () => {
    const report = await checked(gnuOva('no-manifest.ova', packageOf([disk()])), { verify: true });
    expect(codes(report)).toEqual([]);
  });
});

// --- the guest the OVF names -------------------------------------------------------------------------------------

describe('the guest operating system the OVF names', () => {
  it('windows11_64Guest with firmware bios on a disk that boots both ways: WIN11_NOT_UEFI; with efi: none', async () => {
    const bios = await checked(gnuOva('win11-bios.ova', packageOf([fixtureDisk('gpt-uefi.vmdk', 'disk1.vmdk')], { osType: 'windows11_64Guest', firmware: 'bios' })));
    expect(codes(bios)).toEqual(['WIN11_NOT_UEFI']);
    expect(bios.importImage).toMatchObject({ Platform: 'Windows', BootMode: 'legacy-bios' });
    const efi = await checked(gnuOva('win11-efi.ova', packageOf([fixtureDisk('gpt-uefi.vmdk', 'disk1.vmdk')], { osType: 'windows11_64Guest', firmware: 'efi' })));
    expect(codes(efi)).toEqual([]);
    expect(efi.importImage).toMatchObject({ Platform: 'Windows', BootMode: 'uefi' });
  });

  it('ubuntuGuest (32-bit) on a Linux disk without an ESP: LINUX_32BIT, Architecture i386', async () => {
    const report = await checked(gnuOva('ubuntu32.ova', packageOf([fixtureDisk('mbr-bios.vmdk', 'disk1.vmdk')], { osType: 'ubuntuGuest', firmware: 'bios' })));
    expect(codes(report)).toEqual(['LINUX_32BIT']);
    expect(report.importImage).toMatchObject({ Platform: 'Linux', Architecture: 'i386', BootMode: 'legacy-bios' });
    expect(finding(report, 'LINUX_32BIT').message).toContain('ubuntuGuest');
  });

  it('arm-ubuntu64Guest: ARCH_ARM64, and no Architecture in the request', async () => {
    const report = await checked(gnuOva('arm.ova', packageOf([fixtureDisk('mbr-bios.vmdk', 'disk1.vmdk')], { osType: 'arm-ubuntu64Guest', firmware: 'bios' })));
    expect(codes(report)).toEqual(['ARCH_ARM64']);
    expect(report.importImage).toMatchObject({ Platform: 'Linux' });
    expect(report.importImage).not.toHaveProperty('Architecture');
  });

  it('windows2019srv_64Guest: Platform Windows (x86_64 from the ESP\'s loader)', async () => {
    const report = await checked(gnuOva('win2019.ova', packageOf([fixtureDisk('gpt-uefi.vmdk', 'disk1.vmdk')], { osType: 'windows2019srv_64Guest', firmware: 'efi' })));
    expect(codes(report)).toEqual([]);
    expect(report.importImage).toMatchObject({ Platform: 'Windows', Architecture: 'x86_64', BootMode: 'uefi' });
  });
});

// --- disks VM Import does not take ------------------------------------------------------------------------------

describe('disks inside the OVA that VM Import does not take', () => {
  it('a gzip-declared disk: OVA_COMPRESSED_DISK; it is read as a stream, yet its partition table is still read', async () => {
    const vhd = fixtureDisk('mbr-bios-dynamic.vhd', 'disk1.vhd.gz', { format: FORMAT_URI.vhd });
    const gz = gzipSync(vhd.bytes);
    const report = await checked(gnuOva('gzip.ova', packageOf([{ ...vhd, bytes: gz, size: gz.length, compression: 'gzip' }], LINUX_BIOS)));
    expect(codes(report)).toEqual(['OVA_COMPRESSED_DISK']);
    expect(finding(report, 'OVA_COMPRESSED_DISK').message).toMatch(/^disk1\.vhd\.gz is stored gzip-compressed/);
    // One pass over the inflated stream keeps the windows the partition readers need (image/capture.ts).
    expect(report.inspect.disks[0]).toMatchObject({ format: 'vhd', randomAccess: false, partitionTable: 'mbr', bootMode: 'legacy-bios' });
    expect(report.importImage?.BootMode).toBe('legacy-bios');
  });

  it('a gzip-declared disk whose table lies outside those windows (a long EBR chain): PARTITIONS_NOT_READ', async () => {
    const plain = diskFrom(ebrChain, 'disk1.vmdk', 64 * MiB);
    const gz = gzipSync(plain.bytes);
    const report = await checked(gnuOva('gzip-ebr.ova', packageOf([{ ...plain, href: 'disk1.vmdk.gz', bytes: gz, size: gz.length, compression: 'gzip' }], LINUX_BIOS)));
    expect(codes(report)).toEqual(['OVA_COMPRESSED_DISK', 'PARTITIONS_NOT_READ']);
    expect(finding(report, 'PARTITIONS_NOT_READ').disk).toBe('disk1.vmdk.gz');
    expect(report.inspect.disks[0]!.partitions).toBeNull();
    // Stored plainly, the same disk is read whole: its table (1, 2, 5, 6, 7), no boot code, no root file system.
    const stored = await checked(gnuOva('plain-ebr.ova', packageOf([plain], LINUX_BIOS)));
    expect(stored.inspect.disks[0]!.partitions?.map((p) => p.index)).toEqual([1, 2, 5, 6, 7]);
    expect(codes(stored)).toEqual(['BOOT_NO_BOOTABLE_PARTITION', 'FS_UNSUPPORTED']);
  });

  it('a qcow2 disk: FORMAT_UNSUPPORTED naming the entry', async () => {
    const report = await checked(gnuOva('qcow2.ova', packageOf([fixtureDisk('mbr-bios.qcow2', 'disk1.qcow2')], LINUX_BIOS)));
    expect(codes(report)).toEqual(['FORMAT_UNSUPPORTED']);
    expect(report.ok).toBe(false);
    const hit = finding(report, 'FORMAT_UNSUPPORTED');
    expect(hit.disk).toBe('disk1.qcow2');
    expect(hit.message).toBe('disk1.qcow2 is a qcow2 image (v3), which VM Import does not read');
  });

  // The container is an OVA, but VM Import reads the disks inside: a qcow2 one leaves no valid request.
  it('a qcow2 disk: no ImportImage request', async () => {
    const report = await checked(gnuOva('qcow2-request.ova', packageOf([fixtureDisk('mbr-bios.qcow2', 'disk1.qcow2')], LINUX_BIOS)));
    expect(report.importImage).toBeNull();
  });

  it('a VMDK snapshot child (qemu-img create -b): VMDK_SNAPSHOT_CHILD, not an unreadable input', async () => {
    const base = join(dir, 'base.vmdk');
    const child = join(dir, 'child.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', base, '16M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', base, '-F', 'vmdk', child]);
    const path = gnuOva('snapshot.ova', packageOf([diskFrom(child, 'child.vmdk', 16 * MiB, { format: FORMAT_URI.sparse })], LINUX_BIOS));
    const report = await check(path);
    expect(report.error).toBeUndefined();
    expect(codes(report)).toEqual(['VMDK_SNAPSHOT_CHILD']);
    expect(report.ok).toBe(false);
    expect(report.importImage).toBeNull();
    expect(report.findings[0]!.message).toMatch(/child\.vmdk is a VMDK snapshot delta.*base\.vmdk/);
    expect(report.findings[0]!.disk).toBe('child.vmdk'); // the entry, as the other OVA findings name disks
  });
});

// --- hostile packages --------------------------------------------------------------------------------------------

describe('hostile OVAs through check(): an unreadable-input error, never a throw', () => {
  const laughs = `<!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('')}]>`;
  const small = () => readFileSync(fixture('empty-stream.vmdk'));
  const cases: [string, string, () => string][] = [
    ['an entry named ../x', 'OVA_UNSAFE_PATH', () => {
      const path = join(dir, 'dotdot.ova');
      writeFileSync(path, tarOf([{ name: 'vm.ovf', data: ovfXml([{ href: 'disk.vmdk' }]) }, { name: 'disk.vmdk', data: small() }, { name: '../x', data: 'x' }]));
      return path;
    }],
    ['a symlink', 'OVA_LINK', () => gnuOva('symlink.ova', [...packageOf([fixtureDisk('empty-stream.vmdk', 'disk.vmdk')], LINUX_BIOS), ['passwd', { symlink: '/etc/passwd' }]])],
    ['an entity bomb in the OVF', 'OVF_UNSAFE_XML', () => gnuOva('laughs.ova', [
      ['vm.ovf', ovfXml([{ href: 'disk.vmdk' }], undefined, laughs).replace('<Info>vm</Info>', '<Info>&lol9;</Info>')],
      ['disk.vmdk', small()],
    ])],
  ];

  it.each(cases)('%s: %s', async (_, code, build) => {
    const path = build();
    const report = await check(path);
    expect(report.error).toMatchObject({ code, file: path });
    expect(report).toMatchObject({ ok: false, findings: [], importImage: null, inspect: null, guest: null });
  });
});

// --- from a pipe -------------------------------------------------------------------------------------------------

describe('the same OVA from a file and from a pipe', () => {
  /** A package that sets off several package rules at once: capacity, an unlisted entry, a certificate, a bad digest. */
  function busyPackage(name: string): string {
    const members: Members = [...packageOf([fixtureDisk('gpt-uefi.vmdk', 'disk1.vmdk', { capacity: 100 * MiB })]), ['notes.txt', 'extra\n']];
    const mf = manifestOf(members, ['vm.ovf', 'disk1.vmdk']).replace(/(vm\.ovf\)= )(.)/, (_, lead: string, c: string) => `${lead}${c === 'a' ? 'b' : 'a'}`);
    return gnuOva(name, [members[0]!, ['vm.mf', mf], ['vm.cert', 'cert\n'], ...members.slice(1)]);
  }

  const summary = (findings: Finding[]) => findings.map((f) => [f.code, f.disk ?? null]).sort((a, b) => String(a).localeCompare(String(b)));

  it('the same findings and request, with and without --verify (OVF first)', async () => {
    const path = busyPackage('busy.ova');
    for (const verify of [false, true]) {
      const fromFile = await checked(path, { verify });
      const fromPipe = await checkedFromPipe(path, { verify });
      expect(codes(fromFile)).toEqual(verify
        ? ['OVA_CERTIFICATE_NOT_CHECKED', 'OVA_MANIFEST_INCOMPLETE', 'OVA_MANIFEST_MISMATCH', 'OVF_CAPACITY_MISMATCH']
        : ['OVA_CERTIFICATE_NOT_CHECKED', 'OVA_MANIFEST_NOT_VERIFIED', 'OVF_CAPACITY_MISMATCH']);
      expect(summary(fromPipe.findings)).toEqual(summary(fromFile.findings));
      expect(fromPipe.report.verification).toEqual(fromFile.inspect.verification);
      expect(fromPipe.report.disks[0]!.partitions).toEqual(fromFile.inspect.disks[0]!.partitions);
      // The pipe's upload size is what streamed through: the whole file, tar padding included.
      const { DiskContainers: _a, ...pipeRequest } = fromPipe.importImage!;
      const { DiskContainers: _b, ...fileRequest } = fromFile.importImage!;
      expect(pipeRequest).toEqual(fileRequest);
      expect(fromPipe.report.bytesRead).toBe(statSync(path).size);
    }
  });

  it('the OVF last (the pipe visits the disk before it knows it is one): the same findings', async () => {
    const [ovf, ...disks] = packageOf([fixtureDisk('mbr-bios.vmdk', 'disk1.vmdk')], { osType: 'ubuntu64Guest', firmware: 'efi' });
    const path = gnuOva('pipe-ovf-last.ova', [...disks, ovf!]);
    const fromFile = await checked(path);
    const fromPipe = await checkedFromPipe(path);
    expect(codes(fromFile)).toEqual(['OVA_OVF_NOT_FIRST', 'UEFI_BOOTMODE_MISMATCH']);
    expect(summary(fromPipe.findings)).toEqual(summary(fromFile.findings));
  });

  it('a disk whose partition table a pipe cannot keep: the pipe says PARTITIONS_NOT_READ in place of the boot rules', async () => {
    const path = gnuOva('pipe-ebr.ova', packageOf([diskFrom(ebrChain, 'disk1.vmdk', 64 * MiB)], LINUX_BIOS));
    // sfdisk's bootable flag without boot code, and no file systems: the file says so.
    expect(codes(await checked(path))).toEqual(['BOOT_NO_BOOTABLE_PARTITION', 'FS_UNSUPPORTED']);
    const fromPipe = await checkedFromPipe(path);
    expect(codes(fromPipe)).toEqual(['PARTITIONS_NOT_READ']);
    expect(fromPipe.findings[0]!.message).toMatch(/^disk1\.vmdk was read front to back/);
  });

  /** mbr-bios as a fixed VHD (its only footer at the end), declared as a VHD of its true capacity. */
  function fixedVhdPackage(name: string): string {
    const vhd = join(dir, `${name}.vhd`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', fixture('mbr-bios.raw'), vhd]);
    return gnuOva(name, packageOf([diskFrom(vhd, 'disk1.vhd', 32 * MiB)], LINUX_BIOS));
  }

  it('a fixed VHD from the file: a VHD of its OVF capacity, nothing to say', async () => {
    const report = await checked(fixedVhdPackage('fixed-file.ova'));
    expect(report.inspect.disks[0]).toMatchObject({ format: 'vhd', subformat: 'fixed', virtualSize: 32 * MiB });
    expect(codes(report)).toEqual([]);
  });

  // Through a pipe the entry's probe has no tail, so the disk looks like RAW until its footer streams past; taken for
  // RAW of capacity + 512 bytes, the OVF rules would blame the package (OVF_FORMAT_MISMATCH, OVF_CAPACITY_MISMATCH).
  it('a fixed VHD through a pipe: a VHD too, the same findings as from the file', async () => {
    const path = fixedVhdPackage('fixed-pipe.ova');
    const fromPipe = await checkedFromPipe(path);
    expect(fromPipe.report.disks[0]).toMatchObject({ format: 'vhd', subformat: 'fixed', virtualSize: 32 * MiB, randomAccess: false, partitionTable: 'mbr' });
    expect(summary(fromPipe.findings)).toEqual(summary((await checked(path)).findings));
  });

  it('the built CLI: `diskport check --json --verify -` with the OVA on a pipe agrees with check() of the file', async () => {
    expect(existsSync(CLI), 'build first: npx tsc -p .').toBe(true);
    const path = busyPackage('cli-busy.ova');
    const result = spawnSync('node', [CLI, 'check', '--json', '--verify', '-'], { input: readFileSync(path), maxBuffer: 64 * MiB });
    expect(result.stderr.toString()).toBe('');
    expect(result.status).toBe(1); // the digest mismatch is a rule error
    const piped = JSON.parse(result.stdout.toString()) as CheckReport;
    const fromFile = await checked(path, { verify: true });
    expect(summary(piped.findings)).toEqual(summary(fromFile.findings));
    expect(piped.importImage).toEqual({ ...fromFile.importImage, DiskContainers: [{ Description: '-', Format: 'OVA' }] });
    expect(piped.inspect).toMatchObject({ format: 'ova', randomAccess: false, fileSize: null, bytesRead: statSync(path).size });
  });
});
