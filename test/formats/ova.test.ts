/**
 * OVA tests: GNU tar fixtures in every tar format (make-ova.sh), hostile packages built here byte by byte, each read
 * from a file and from a pipe (which must agree), disk content against qemu-img, a 20 GiB sparse OVA read for a few
 * KiB, a 2 GiB OVA streamed through a pipe in bounded memory, and mutants of real headers and OVF.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskError } from '../../src/errors.js';
import { capacityBytes, unitMultiplier } from '../../src/formats/ova/ovf.js';
import { parseManifest } from '../../src/formats/ova/manifest.js';
import { ova, readOva, type OvaResult, type OvfDisk, type TarEntry } from '../../src/formats/ova/index.js';
import { Limits } from '../../src/limits.js';
import { openImage } from '../../src/open.js';
import { FileSource } from '../../src/source/file.js';
import { ForwardSource } from '../../src/source/forward.js';
import { MemorySource } from '../../src/source/memory.js';
import type { ByteSource } from '../../src/source/types.js';
import { FIXTURES, fixture, guestHash, mutate, qemuRawHash, seeded } from '../helpers.js';
import { NS, fixHeaderSum, header, ovfXml, paxRecords, tarOf, type Member } from '../ova-builder.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const tmp = mkdtempSync(join(tmpdir(), 'diskport-ova-'));
afterAll(() => { if (!process.env.KEEP_OVA_TMP) rmSync(tmp, { recursive: true, force: true }); });

const OVA_FIXTURES = ['stream', 'ovf-last', 'gnu', 'pax', 'two-disks', 'bad-digest', 'gzip', 'ovf2'].map((n) => `ova-${n}.ova`);

beforeAll(() => {
  // Until make.sh calls make-ova.sh itself, make the OVA fixtures here when they are missing.
  if (!OVA_FIXTURES.every((name) => existsSync(fixture(name)))) {
    execFileSync('bash', [join(import.meta.dirname, '..', 'images', 'make-ova.sh'), FIXTURES]);
  }
});

// --- sources and visitors ------------------------------------------------------------------------------------

function pipe(path: string, name = 'pipe'): ForwardSource {
  return new ForwardSource(name, createReadStream(path, { highWaterMark: MiB }));
}

function temp(name: string, bytes: Uint8Array): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

interface DiskSummary {
  format: string;
  subformat: string | null;
  virtualSize: number | undefined;
  sha256: string;
}

/** Opens the disk with the ordinary readers and hashes every guest byte; records what the visitor was given. */
function hashingVisitor(calls: { entry: TarEntry; disk: OvfDisk | undefined; seekable: boolean }[] = []) {
  return async (source: ByteSource, entry: TarEntry, disk: OvfDisk | undefined): Promise<DiskSummary> => {
    calls.push({ entry, disk, seekable: source.seekable });
    const image = await openImage(source);
    try {
      return { format: image.format, subformat: image.subformat, virtualSize: image.virtualSize, sha256: await guestHash(image) };
    } finally {
      await image.close();
    }
  };
}

/** Opens the disk and walks a few extents: cheap, for hostile packages and mutants. */
async function peekVisitor(source: ByteSource): Promise<string> {
  const image = await openImage(source);
  try {
    let seen = 0;
    for await (const extent of image.extents()) if (++seen >= 8 || extent.length < 0) break;
    return image.format;
  } finally {
    await image.close();
  }
}

type Outcome<T> = { ok: true; result: OvaResult<T> } | { ok: false; error: DiskError };

async function attempt<T>(work: Promise<OvaResult<T>>): Promise<Outcome<T>> {
  try {
    return { ok: true, result: await work };
  } catch (error) {
    if (!(error instanceof DiskError)) throw error;
    return { ok: false, error };
  }
}

/** Reads the same OVA from a FileSource and from a pipe. */
async function fileAndPipe<T>(path: string, visit: (s: ByteSource, e: TarEntry, d: OvfDisk | undefined) => Promise<T>, verify = true) {
  const file = await FileSource.open(path);
  const fromFile = await attempt(readOva(file, { verify, visitDisk: visit })).finally(() => file.close());
  const stream = pipe(path);
  const fromPipe = await attempt(readOva(stream, { verify, visitDisk: visit })).finally(() => stream.close());
  return { fromFile, fromPipe };
}

/** Everything but bytesRead, which differs by design (a file reads headers only, a pipe reads everything). */
function comparable<T>(outcome: Outcome<T>): unknown {
  if (!outcome.ok) return { code: outcome.error.code, field: outcome.error.field, offset: outcome.error.offset, format: outcome.error.format };
  const { bytesRead: _, ...rest } = outcome.result;
  return rest;
}

function resultOf<T>(outcome: Outcome<T>): OvaResult<T> {
  if (!outcome.ok) throw outcome.error;
  return outcome.result;
}

const smallDisk = () => readFileSync(fixture('empty-stream.vmdk'));
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** The members of a valid one-disk package. */
function baseMembers(): Member[] {
  const disk = smallDisk();
  const ovf = ovfXml([{ href: 'disk.vmdk' }]);
  return [
    { name: 'vm.ovf', data: ovf },
    { name: 'vm.mf', data: `SHA256(vm.ovf)= ${sha256(ovf)}\nSHA256(disk.vmdk)= ${sha256(disk)}\n` },
    { name: 'disk.vmdk', data: disk },
  ];
}

/** A valid one-disk package; `change` edits the member list before it is packed. */
function basePackage(change: (members: Member[]) => void = () => undefined): Buffer {
  const members = baseMembers();
  change(members);
  return tarOf(members);
}

/** Where each member's header lands in tarOf(members). */
function headerOffsets(members: Member[]): number[] {
  let at = 0;
  return members.map((member) => {
    const here = at;
    const length = typeof member.data === 'string' ? Buffer.byteLength(member.data) : member.data?.length ?? 0;
    at += 512 + Math.ceil(length / 512) * 512;
    return here;
  });
}

/** A copy of `bytes` with `edit` applied to the header at `at`, its checksum made right again. */
function editHeader(bytes: Buffer, at: number, edit: (block: Buffer) => void): Buffer {
  const out = Buffer.from(bytes);
  edit(out.subarray(at, at + 512));
  fixHeaderSum(out, at);
  return out;
}

// --- the fixtures ----------------------------------------------------------------------------------------------

describe('OVAs made by GNU tar', () => {
  it('detects every fixture as an OVA and nothing else', async () => {
    for (const name of OVA_FIXTURES) {
      const head = readFileSync(fixture(name)).subarray(0, 64 * KiB);
      expect(ova.detect({ head, tail: undefined, size: undefined, name }), name).toBe(true);
    }
    for (const name of ['small-stream.vmdk', 'mixed-dynamic.vhd', 'gpt-uefi.vhdx', 'mixed.qcow2']) {
      const head = readFileSync(fixture(name)).subarray(0, 64 * KiB);
      expect(ova.detect({ head, tail: undefined, size: undefined, name }), name).toBe(false);
    }
    const damaged = Buffer.from(readFileSync(fixture('ova-stream.ova')).subarray(0, 512));
    damaged[0] = damaged[0]! ^ 1;
    expect(ova.detect({ head: damaged, tail: undefined, size: undefined, name: 'x' })).toBe(false);
  });

  it('ova-stream: one streamOptimized VMDK, OVF first, SHA256 manifest; content equals qemu-img', async () => {
    const { fromFile, fromPipe } = await fileAndPipe(fixture('ova-stream.ova'), hashingVisitor());
    const result = resultOf(fromFile);
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    expect(result.ovfName).toBe('vm.ovf');
    expect(result.entries.map((e) => e.name)).toEqual(['vm.ovf', 'vm.mf', 'disk1.vmdk']);
    expect(result.manifest?.lines.map((l) => [l.algorithm, l.name])).toEqual([['sha256', 'vm.ovf'], ['sha256', 'disk1.vmdk']]);
    expect(result.verification).toEqual({ checked: ['vm.ovf', 'disk1.vmdk'], mismatches: [], missing: [], unlisted: [] });
    expect(result.ovf).toMatchObject({
      version: 1, name: 'small-vm', osId: 94, osType: 'ubuntu64Guest', osDescription: 'Ubuntu Linux (64-bit)',
      firmware: 'bios', virtualSystemType: 'vmx-13', cpus: 2, memoryMiB: 2048, networks: 1,
    });
    const [visit] = result.disks;
    expect(visit!.disk).toMatchObject({ diskId: 'vmdisk1', href: 'disk1.vmdk', capacity: 9 * MiB, formatName: 'vmdk-streamOptimized', controller: 'scsi:lsilogic' });
    expect(visit!.result).toMatchObject({ format: 'vmdk', subformat: 'streamOptimized', virtualSize: 9 * MiB });
    expect(visit!.result.sha256).toBe(qemuRawHash(fixture('small-stream.vmdk'), 'vmdk'));
    // Listing hops headers: with a visitor that reads nothing, only headers, the OVF and the manifest are read.
    const file = await FileSource.open(fixture('ova-stream.ova'));
    expect((await readOva(file, { visitDisk: async () => 0 })).bytesRead).toBeLessThan(8 * KiB);
    await file.close();
  });

  it('ova-two-disks: GPT/UEFI VMDK + MBR VHD in OVF order, EFI with secure boot, SHA1 manifest (spaced form)', async () => {
    const calls: { entry: TarEntry; disk: OvfDisk | undefined; seekable: boolean }[] = [];
    const { fromFile, fromPipe } = await fileAndPipe(fixture('ova-two-disks.ova'), hashingVisitor(calls));
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    const result = resultOf(fromFile);
    expect(result.ovf).toMatchObject({ firmware: 'efi', secureBoot: true, cpus: 4, memoryMiB: 8192, networks: 2, product: 'diskport test appliance', virtualSystemType: 'vmx-19' });
    expect(result.ovf.disks.map((d) => [d.diskId, d.capacity, d.controller, d.formatName])).toEqual([
      ['vmdisk1', 64 * MiB, 'scsi:virtualscsi', 'vmdk-streamOptimized'],
      ['vmdisk2', 32 * MiB, 'sata', 'vhd'],
      ['blank', GiB, undefined, undefined],
    ]);
    // The blank disk has no file: nothing to visit.
    expect(result.disks.map((d) => [d.disk.diskId, d.entry.name, d.result.format])).toEqual([['vmdisk1', 'boot.vmdk', 'vmdk'], ['vmdisk2', 'data.vhd', 'vhd']]);
    expect(calls.map((c) => [c.entry.name, c.disk?.diskId, c.seekable])).toEqual([
      ['boot.vmdk', 'vmdisk1', true], ['data.vhd', 'vmdisk2', true], ['boot.vmdk', 'vmdisk1', false], ['data.vhd', 'vmdisk2', false],
    ]);
    expect(result.disks[0]!.result.sha256).toBe(qemuRawHash(fixture('gpt-uefi.vmdk'), 'vmdk'));
    expect(result.disks[1]!.result.sha256).toBe(qemuRawHash(fixture('mbr-bios-dynamic.vhd'), 'vpc'));
    expect(result.verification).toEqual({ checked: ['two.ovf', 'boot.vmdk', 'data.vhd', 'two.nvram'], mismatches: [], missing: [], unlisted: [] });
  });

  it('ova-ovf-last: the pipe visits the disk before it knows the OVF, then matches it up', async () => {
    const calls: { entry: TarEntry; disk: OvfDisk | undefined; seekable: boolean }[] = [];
    const { fromFile, fromPipe } = await fileAndPipe(fixture('ova-ovf-last.ova'), hashingVisitor(calls));
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    expect(calls.map((c) => [c.disk?.diskId, c.seekable])).toEqual([['vmdisk1', true], [undefined, false]]);
    const result = resultOf(fromPipe);
    expect(result.entries.map((e) => e.name)).toEqual(['disk1.vmdk', 'vm.ovf', 'vm.mf']);
    expect(result.disks[0]!.disk.diskId).toBe('vmdisk1');
    expect(result.disks[0]!.result.sha256).toBe(qemuRawHash(fixture('small-stream.vmdk'), 'vmdk'));
    expect(result.verification?.mismatches).toEqual([]);
    expect(result.verification?.checked).toEqual(['vm.ovf', 'disk1.vmdk']);
  });

  it('ova-gnu (././@LongLink names, CRLF manifest) and ova-pax (pax path records, a directory entry)', async () => {
    const expected = qemuRawHash(fixture('small-stream.vmdk'), 'vmdk');
    const long = `${'d'.repeat(112)}.vmdk`;
    for (const [name, disk] of [['ova-gnu.ova', long], ['ova-pax.ova', `sub/${long}`]] as const) {
      const { fromFile, fromPipe } = await fileAndPipe(fixture(name), hashingVisitor());
      expect(comparable(fromPipe), name).toEqual(comparable(fromFile));
      const result = resultOf(fromFile);
      expect(result.entries.map((e) => e.name), name).toEqual(['vm.ovf', 'vm.mf', disk]); // the directory is skipped
      expect(result.disks[0]!.result.sha256, name).toBe(expected);
      expect(result.verification, name).toEqual({ checked: ['vm.ovf', disk], mismatches: [], missing: [], unlisted: [] });
    }
  });

  it('ova-gzip: a gzip-declared disk reaches the visitor inflated, forward-only, from a file too', async () => {
    const calls: { entry: TarEntry; disk: OvfDisk | undefined; seekable: boolean }[] = [];
    const { fromFile, fromPipe } = await fileAndPipe(fixture('ova-gzip.ova'), hashingVisitor(calls));
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    expect(calls.map((c) => c.seekable)).toEqual([false, false]);
    const result = resultOf(fromFile);
    expect(result.ovf.files[0]).toMatchObject({ href: 'disk1.vhd.gz', compression: 'gzip' });
    expect(result.disks[0]!.result).toMatchObject({ format: 'vhd', subformat: 'dynamic' });
    expect(result.disks[0]!.result.sha256).toBe(qemuRawHash(fixture('mixed-dynamic.vhd'), 'vpc'));
    expect(result.verification?.mismatches).toEqual([]); // digests are of the compressed bytes, as stored
  });

  it('ova-ovf2: OVF 2 namespace under another prefix, StorageItem on AHCI, VirtualBox EFI firmware, a VHDX', async () => {
    const { fromFile, fromPipe } = await fileAndPipe(fixture('ova-ovf2.ova'), hashingVisitor());
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    const result = resultOf(fromFile);
    expect(result.ovf).toMatchObject({ version: 2, name: 'vbox-vm', osId: 96, osType: 'Debian_64', firmware: 'efi', cpus: 1, memoryMiB: 1024, virtualSystemType: 'virtualbox-2.2' });
    expect(result.ovf.disks[0]).toMatchObject({ diskId: 'd1', href: 'disk.vhdx', capacity: 64 * MiB, formatName: 'vhdx', controller: 'sata' });
    expect(result.disks[0]!.result.sha256).toBe(qemuRawHash(fixture('gpt-uefi.vhdx'), 'vhdx'));
  });

  it('ova-bad-digest: a wrong manifest digest is reported in verification, not thrown', async () => {
    const { fromFile, fromPipe } = await fileAndPipe(fixture('ova-bad-digest.ova'), async () => 'visited');
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    const { verification } = resultOf(fromFile);
    expect(verification?.mismatches).toHaveLength(1);
    expect(verification?.mismatches[0]).toMatchObject({ name: 'boot.vmdk', algorithm: 'sha1' });
    expect(verification?.mismatches[0]!.actual).toBe(execFileSync('sha1sum', [fixture('gpt-uefi.vmdk')], { encoding: 'utf8' }).split(' ')[0]);
    expect(verification?.checked).toEqual(['two.ovf', 'boot.vmdk', 'data.vhd', 'two.nvram']);
    // Without verify nothing is hashed and no verification is returned.
    const file = await FileSource.open(fixture('ova-bad-digest.ova'));
    expect((await readOva(file, { visitDisk: async () => 0 })).verification).toBeUndefined();
    await file.close();
  });
});

// --- package contents --------------------------------------------------------------------------------------------

describe('package contents', () => {
  it('unlisted entries, manifest lines naming absent files, a certificate', async () => {
    const disk = smallDisk();
    const ovf = ovfXml([{ href: 'disk.vmdk' }]);
    const bytes = tarOf([
      { name: 'vm.ovf', data: ovf },
      { name: 'vm.mf', data: `SHA256(disk.vmdk)= ${sha256(disk)}\nSHA1(gone.iso)= ${'0'.repeat(40)}\n` },
      { name: 'vm.cert', data: 'SHA256(vm.mf)= 00\n-----BEGIN CERTIFICATE-----\n' },
      { name: 'disk.vmdk', data: disk },
      { name: 'notes.txt', data: 'extra' },
    ]);
    const { fromFile, fromPipe } = await fileAndPipe(temp('contents.ova', bytes), peekVisitor);
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    const result = resultOf(fromFile);
    expect(result.certificate).toBe('vm.cert');
    expect(result.verification).toEqual({ checked: ['disk.vmdk'], mismatches: [], missing: ['gone.iso'], unlisted: ['vm.ovf', 'notes.txt'] });
  });

  it('no manifest: verification lists every entry as unlisted', async () => {
    const bytes = basePackage((m) => m.splice(1, 1));
    const { fromFile, fromPipe } = await fileAndPipe(temp('nomf.ova', bytes), peekVisitor);
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    expect(resultOf(fromFile).verification).toEqual({ checked: [], mismatches: [], missing: [], unlisted: ['vm.ovf', 'disk.vmdk'] });
  });

  it('a pax size record and ./ names; a File ovf:size that disagrees is reported, not refused', async () => {
    const disk = smallDisk();
    const ovf = ovfXml([{ href: './disk.vmdk', extra: ' ovf:size="12345"' }]);
    const bytes = tarOf([
      { name: './vm.ovf', data: ovf },
      { name: 'PaxHeaders/disk', type: 'x', data: paxRecords({ path: 'disk.vmdk', size: String(disk.length), mtime: '1.5' }) },
      { name: 'truncated-name', data: disk, size: 7 }, // the header's size is wrong; pax's wins
      { name: 'global', type: 'g', data: paxRecords({ comment: 'ignored' }) },
    ]);
    const { fromFile, fromPipe } = await fileAndPipe(temp('pax-size.ova', bytes), peekVisitor);
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
    const result = resultOf(fromFile);
    expect(result.entries.map((e) => [e.name, e.size])).toEqual([['vm.ovf', Buffer.byteLength(ovf)], ['disk.vmdk', disk.length]]);
    expect(result.ovf.files[0]).toMatchObject({ href: 'disk.vmdk', size: 12345 });
    expect(result.disks[0]!.result).toBe('vmdk');
  });

  it('a lone zero block between entries is skipped; two end the archive, whatever follows', async () => {
    const [ovf, mf, disk] = baseMembers();
    const bytes = Buffer.concat([tarOf([ovf!, mf!], false), Buffer.alloc(512), tarOf([disk!]), Buffer.from('junk after the end')]);
    const file = await FileSource.open(temp('lone-zero.ova', bytes));
    const result = await readOva(file, { verify: true, visitDisk: peekVisitor });
    await file.close();
    expect(result.entries.map((e) => e.name)).toEqual(['vm.ovf', 'vm.mf', 'disk.vmdk']);
    expect(result.verification?.mismatches).toEqual([]);
    const { fromPipe } = await fileAndPipe(temp('lone-zero-only.ova', bytes.subarray(0, -18)), peekVisitor);
    expect(comparable(fromPipe)).toEqual(comparable({ ok: true, result }));
  });

  it('a VMDK descriptor inside the OVA opens its extent from the same OVA (file source)', async () => {
    const bytes = tarOf([
      { name: 'vm.ovf', data: ovfXml([{ href: 'odd-2gb-flat.vmdk' }, { href: 'odd-2gb-flat-f001.vmdk' }]) },
      { name: 'odd-2gb-flat.vmdk', data: readFileSync(fixture('odd-2gb-flat.vmdk')) },
      { name: 'odd-2gb-flat-f001.vmdk', data: readFileSync(fixture('odd-2gb-flat-f001.vmdk')) },
    ]);
    const file = await FileSource.open(temp('descriptor.ova', bytes));
    const result = await readOva(file, { visitDisk: hashingVisitor() });
    await file.close();
    expect(result.disks[0]!.result.sha256).toBe(qemuRawHash(fixture('odd-2gb-flat.vmdk'), 'vmdk'));
  });

  it('closing the source a visitor gets leaves the OVA open', async () => {
    const file = await FileSource.open(fixture('ova-two-disks.ova'));
    const result = await readOva(file, { visitDisk: async (source) => { await source.close(); return 1; } });
    expect(result.disks).toHaveLength(2);
    expect((await file.read(0, 512)).length).toBe(512);
    await file.close();
  });
});

// --- hostile packages ----------------------------------------------------------------------------------------------

describe('hostile packages: the same DiskError from a file and from a pipe', () => {
  const DISK_HEADER = () => headerOffsets(baseMembers())[2]!;
  const disk = () => smallDisk();
  const laughs = `<!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('')}]>`;
  const cases: [string, () => Buffer, string, string?][] = [
    ['../evil entry name', () => basePackage((m) => m.push({ name: '../evil', data: 'x' })), 'OVA_UNSAFE_PATH', 'header.name'],
    ['a/../../evil entry name', () => basePackage((m) => m.push({ name: 'a/../../evil', data: 'x' })), 'OVA_UNSAFE_PATH'],
    ['absolute entry name', () => basePackage((m) => m.push({ name: '/etc/cron.d/evil', data: 'x' })), 'OVA_UNSAFE_PATH'],
    ['symlink', () => basePackage((m) => m.push({ name: 'link', type: '2', linkname: '/etc/passwd' })), 'OVA_LINK', 'header.typeflag'],
    ['hard link', () => basePackage((m) => m.push({ name: 'hard', type: '1', linkname: 'disk.vmdk' })), 'OVA_LINK'],
    ['character device', () => basePackage((m) => m.push({ name: 'tty', type: '3' })), 'BAD_HEADER', 'header.typeflag'],
    ['GNU sparse member', () => basePackage((m) => m.push({ name: 'sparse', type: 'S', data: 'x' })), 'UNSUPPORTED_FEATURE'],
    ['pax GNU.sparse records', () => basePackage((m) => m.push({ name: 'p', type: 'x', data: paxRecords({ 'GNU.sparse.major': '1' }) }, { name: 'sp', data: 'x' })), 'UNSUPPORTED_FEATURE', 'pax'],
    ['duplicate entry', () => basePackage((m) => m.push({ name: './disk.vmdk', data: 'other' })), 'OVA_DUPLICATE_ENTRY', 'header.name'],
    ['File href missing from the tar', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }, { href: 'missing.vmdk' }]); }), 'OVA_MISSING_FILE', 'References/File[1]/href'],
    ['File href with ..', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: '../disk.vmdk' }]); }), 'OVA_UNSAFE_PATH'],
    ['Disk fileRef naming no File', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }], [{ file: 3 }]); }), 'OVA_MISSING_FILE'],
    ['no .ovf', () => basePackage((m) => m.splice(0, 1)), 'OVA_NO_OVF'],
    ['OVF not well-formed', () => basePackage((m) => { m[0]!.data = `<Envelope ${NS}><References></Envelope>`; }), 'OVF_INVALID_XML'],
    ['OVF with two roots', () => basePackage((m) => { m[0]!.data = `<Envelope ${NS}/><Envelope/>`; }), 'OVF_INVALID_XML'],
    ['OVF not UTF-8', () => basePackage((m) => { m[0]!.data = Buffer.from([0x3c, 0x61, 0xff, 0xfe, 0x3e]); }), 'OVF_INVALID_XML'],
    ['OVF root not an Envelope', () => basePackage((m) => { m[0]!.data = '<Package/>'; }), 'BAD_DESCRIPTOR'],
    ['billion laughs', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }], undefined, laughs).replace('<Info>vm</Info>', '<Info>&lol9;</Info>'); }), 'OVF_UNSAFE_XML'],
    ['external entity', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }], undefined, '<!DOCTYPE Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>').replace('<Info>vm</Info>', '<Info>&x;</Info>'); }), 'OVF_UNSAFE_XML'],
    ['OVF larger than Limits.maxOvfBytes', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }]).replace('</Envelope>', `<!--${'x'.repeat(Limits.maxOvfBytes)}--></Envelope>`); }), 'LIMIT_EXCEEDED', 'header.size'],
    ['capacity past Limits.maxVirtualSize', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }], [{ file: 0, capacity: '9999999', units: 'byte * 2^40' }]); }), 'BAD_HEADER', 'DiskSection/Disk[0]/capacity'],
    ['capacity not a number', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }], [{ file: 0, capacity: '${disk.size}' }]); }), 'BAD_HEADER'],
    ['capacity in an unknown unit', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }], [{ file: 0, units: 'hertz * 10^6' }]); }), 'BAD_HEADER'],
    ['manifest line that does not parse', () => basePackage((m) => { m[1]!.data = 'SHA256 vm.ovf 1234\n'; }), 'MANIFEST_INVALID', 'manifest line 1'],
    ['manifest digest of the wrong length', () => basePackage((m) => { m[1]!.data = `SHA1(vm.ovf)= ${'a'.repeat(64)}\n`; }), 'MANIFEST_INVALID'],
    ['undeclared gzip disk', () => basePackage((m) => { m[2]!.data = gzipSync(disk()); }), 'OVA_UNDECLARED_COMPRESSION', 'data'],
    ['declared gzip, plain data', () => basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk', extra: ' ovf:compression="gzip"' }]); }), 'CORRUPT_DATA'],
    ['bad header checksum in the disk header', () => { const t = basePackage(); t[DISK_HEADER() + 10] = t[DISK_HEADER() + 10]! ^ 0x20; return t; }, 'BAD_CHECKSUM', 'header.checksum'],
    ['no ustar magic', () => editHeader(basePackage(), DISK_HEADER(), (h) => h.write('XXXXXX', 257, 'latin1')), 'BAD_HEADER', 'header.magic'],
    ['size field not a number', () => editHeader(basePackage(), DISK_HEADER(), (h) => h.write('zzzzzzzzzzz\0', 124, 'latin1')), 'BAD_HEADER', 'header.size'],
    ['truncated inside the disk', () => basePackage().subarray(0, DISK_HEADER() + 512 + 30_000), 'TRUNCATED', 'header.size'],
    ['truncated inside a header', () => Buffer.concat([tarOf(baseMembers(), false), header({ name: 'x' }, 0).subarray(0, 100)]), 'TRUNCATED', 'header'],
    ['truncated after the data, before its padding', () => tarOf([...baseMembers(), { name: 'x', data: 'abc' }], false).subarray(0, -100), 'TRUNCATED'],
  ];

  it.each(cases)('%s -> %s', async (name, build, code, field) => {
    const path = temp(`hostile-${name.replace(/[^a-z0-9]+/gi, '-')}.ova`, build());
    const { fromFile, fromPipe } = await fileAndPipe(path, peekVisitor);
    expect(fromFile.ok ? 'no error' : fromFile.error.code, 'file').toBe(code);
    expect(fromPipe.ok ? 'no error' : fromPipe.error.code, 'pipe').toBe(code);
    const error = (fromFile as { error: DiskError }).error;
    expect(error.format).toBe('ova');
    expect(error.file).toBe(path);
    expect(error.offset).toBeTypeOf('number');
    if (field !== undefined) expect(error.field).toBe(field);
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
  });

  it('more entries than Limits.maxTarEntries -> LIMIT_EXCEEDED', async () => {
    const members: Member[] = Array.from({ length: Limits.maxTarEntries + 1 }, (_, i) => ({ name: `f${i}` }));
    const { fromFile, fromPipe } = await fileAndPipe(temp('many.ova', tarOf(members)), peekVisitor, false);
    expect(comparable(fromFile)).toMatchObject({ code: 'LIMIT_EXCEEDED', offset: Limits.maxTarEntries * 512 });
    expect(comparable(fromPipe)).toEqual(comparable(fromFile));
  });

  it('an entity reference without a declaration stays literal text', async () => {
    const bytes = basePackage((m) => { m[0]!.data = ovfXml([{ href: 'disk.vmdk' }]).replace('<VirtualSystem ovf:id="vm">', '<VirtualSystem ovf:id="vm"><Name>a &amp; b &#x41; &foo;</Name>'); });
    const file = new MemorySource('mem', bytes);
    expect((await readOva(file, { visitDisk: peekVisitor })).ovf.name).toBe('a & b A &foo;');
  });

  it('a visitor failure propagates and stops the pipe', async () => {
    const visitDisk = async () => { throw new DiskError('CORRUPT_DATA', 'visitor says no'); };
    const { fromFile, fromPipe } = await fileAndPipe(fixture('ova-two-disks.ova'), visitDisk);
    expect(comparable(fromFile)).toMatchObject({ code: 'CORRUPT_DATA' });
    expect(comparable(fromPipe)).toMatchObject({ code: 'CORRUPT_DATA' });
  });
});

// --- OVF and manifest details ------------------------------------------------------------------------------------

describe('OVF capacity units and manifest lines', () => {
  const fail = (code: DiskError['code'], message: string, field?: string) => new DiskError(code, message, { field });

  it('reads DSP0004 programmatic units and refuses what is not bytes', () => {
    expect(unitMultiplier(undefined)).toBe(1n);
    expect(unitMultiplier('byte')).toBe(1n);
    expect(unitMultiplier('byte * 2^30')).toBe(1n << 30n);
    expect(unitMultiplier('byte*10^3*1024')).toBe(1024000n);
    expect(unitMultiplier('MegaBytes')).toBe(1n << 20n);
    expect(unitMultiplier('hertz * 10^6')).toBeUndefined();
    expect(unitMultiplier('byte * 2^999')).toBeUndefined();
    expect(capacityBytes('20', 'byte * 2^30', 'd', fail)).toBe(20 * GiB);
    expect(capacityBytes(String(Limits.maxVirtualSize), undefined, 'd', fail)).toBe(Limits.maxVirtualSize);
    expect(() => capacityBytes(String(Limits.maxVirtualSize + 1), undefined, 'd', fail)).toThrow(/exceeds/);
    expect(() => capacityBytes('-1', undefined, 'd', fail)).toThrow(/whole number/);
    expect(() => capacityBytes('1e9', undefined, 'd', fail)).toThrow(/whole number/);
  });

  it('parses the manifest forms producers write', () => {
    const hex1 = 'AB'.repeat(20);
    const text = `SHA1(a.ovf)= ${hex1}\r\nSHA256 ( dir/b c.vmdk ) = ${'0'.repeat(64)}\r\n\r\nsha512(./d(1).vmdk)=${'f'.repeat(128)}`;
    expect(parseManifest(Buffer.from(text), { file: 'x', entry: 'x.mf', offset: 0 })).toEqual([
      { algorithm: 'sha1', name: 'a.ovf', digest: hex1.toLowerCase() },
      { algorithm: 'sha256', name: 'dir/b c.vmdk', digest: '0'.repeat(64) },
      { algorithm: 'sha512', name: 'd(1).vmdk', digest: 'f'.repeat(128) },
    ]);
    expect(() => parseManifest(Buffer.from('MD5(a)= 00'), { file: 'x', entry: 'x.mf', offset: 0 })).toThrow(DiskError);
  });
});

// --- size: a 20 GiB OVA from a file, a 2 GiB OVA through a pipe ----------------------------------------------------

describe('large OVAs', () => {
  it('a 20 GiB sparse OVA (base-256 size, fixed VHD) is inspected reading < 1 MiB', async () => {
    const size = 20 * GiB;
    const scratch = join(tmp, 'footer.vhd');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=fixed,force_size=on', scratch, String(size)]);
    const vhd = openSync(scratch, 'r');
    const footer = Buffer.alloc(512);
    readSync(vhd, footer, 0, 512, size);
    closeSync(vhd);
    rmSync(scratch);
    const ovf = ovfXml([{ href: 'big.vhd', extra: ` ovf:size="${size + 512}"` }], [{ file: 0, capacity: '20', units: 'byte * 2^30' }]);
    const head = tarOf([{ name: 'big.ovf', data: ovf }], false);
    const path = join(tmp, 'big.ova');
    const fd = openSync(path, 'w');
    writeSync(fd, head, 0, head.length, 0);
    const diskHeader = header({ name: 'big.vhd', magic: 'gnu' }, size + 512);
    writeSync(fd, diskHeader, 0, 512, head.length);
    const dataAt = head.length + 512;
    writeSync(fd, footer, 0, 512, dataAt + size);
    ftruncateSync(fd, dataAt + size + 512 + 1024); // the data ends on a block; two zero blocks end the archive
    closeSync(fd);

    const file = await FileSource.open(path);
    const result = await readOva(file, {
      visitDisk: async (source) => {
        const image = await openImage(source);
        const first = await image.read(0, 4096);
        await image.close();
        return { format: image.format, subformat: image.subformat, virtualSize: image.virtualSize, zeros: first.every((b) => b === 0) };
      },
    });
    await file.close();
    expect(result.entries.map((e) => [e.name, e.size])).toEqual([['big.ovf', Buffer.byteLength(ovf)], ['big.vhd', size + 512]]);
    expect(result.disks[0]!.result).toEqual({ format: 'vhd', subformat: 'fixed', virtualSize: size, zeros: true });
    expect(result.ovf.disks[0]!.capacity).toBe(size);
    expect(result.bytesRead).toBeLessThan(MiB);
  });

  it('a 2 GiB OVA streams through a pipe in bounded memory, hashed on the way', async () => {
    const size = 2 * GiB;
    const ovf = ovfXml([{ href: 'disk.img' }], [{ file: 0, capacity: '2', units: 'byte * 2^30' }]);
    const zeros = Buffer.alloc(64 * MiB);
    const digest = createHash('sha256');
    for (let done = 0; done < size; done += zeros.length) digest.update(zeros);
    const manifest = `SHA256(vm.ovf)= ${sha256(ovf)}\nSHA256(disk.img)= ${digest.digest('hex')}\n`;
    const head = tarOf([{ name: 'vm.ovf', data: ovf }, { name: 'vm.mf', data: manifest }], false);
    const path = join(tmp, 'two-gib.ova');
    const fd = openSync(path, 'w');
    writeSync(fd, head, 0, head.length, 0);
    writeSync(fd, header({ name: 'disk.img' }, size), 0, 512, head.length);
    ftruncateSync(fd, head.length + 512 + size + 1024);
    closeSync(fd);

    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    const source = pipe(path);
    try {
      const result = await readOva(source, { verify: true, visitDisk: async (disk) => (await openImage(disk)).virtualSize });
      expect(result.disks[0]!.result).toBe(size);
      expect(result.verification).toEqual({ checked: ['vm.ovf', 'disk.img'], mismatches: [], missing: [], unlisted: [] });
      expect(result.bytesRead).toBe(head.length + 512 + size + 1024);
    } finally {
      clearInterval(sampler);
      await source.close();
    }
    if (process.env.SHOW_RSS) console.log(`rss peak delta ${((peak - baseline) / MiB).toFixed(1)} MiB`);
    expect(peak - baseline).toBeLessThan(150 * MiB);
  });
});

// --- mutants -------------------------------------------------------------------------------------------------------

describe('mutants of real tar headers and OVF', () => {
  /** 'ok', or the error's code and whether the OVA reader raised it (rather than a disk reader in a visitor). */
  async function exercise(source: ByteSource): Promise<{ code: string; ours: boolean }> {
    try {
      await readOva(source, { verify: true, visitDisk: peekVisitor });
      return { code: 'ok', ours: true };
    } catch (error) {
      if (!(error instanceof DiskError) || error.code === 'INTERNAL') throw error;
      return { code: error.code, ours: error.format === 'ova' };
    }
  }

  async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms); });
    try {
      return await Promise.race([work, hang]);
    } finally {
      clearTimeout(timer);
    }
  }

  it('1000 mutants, each read at random and through a pipe: a result or a DiskError, the same one both ways', async () => {
    // A small package using every header kind a reader follows: ustar, a GNU long name, a pax path and size.
    const disk = smallDisk();
    const ovf = ovfXml([{ href: 'disk.vmdk' }]);
    const members: Member[] = [
      { name: 'vm.ovf', data: ovf },
      { name: '././@LongLink', type: 'L', data: 'vm.mf\0', magic: 'gnu' },
      { name: 'vm.m', data: `SHA256(vm.ovf)= ${sha256(ovf)}\nSHA256(disk.vmdk)= ${sha256(disk)}\n`, magic: 'gnu' },
      { name: 'PaxHeaders/disk', type: 'x', data: paxRecords({ path: 'disk.vmdk', size: String(disk.length) }) },
      { name: 'd', data: disk },
    ];
    const original = tarOf(members);
    const headers = headerOffsets(members);
    const base = await readOva(new MemorySource('base', original), { verify: true, visitDisk: peekVisitor });
    expect(base.entries.map((e) => e.name)).toEqual(['vm.ovf', 'vm.mf', 'disk.vmdk']);
    expect(base.verification?.mismatches).toEqual([]);
    const regions: [number, number][] = members.flatMap((member, i): [number, number][] => {
      const at = headers[i]!;
      const length = typeof member.data === 'string' ? Buffer.byteLength(member.data) : member.data?.length ?? 0;
      return member.name === 'd' ? [[at, at + 512]] : [[at, at + 512], [at + 512, at + 512 + length]];
    });
    const random = seeded(0x0fa);
    const outcomes: Record<string, number> = {};
    const disagreements: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const damaged = Buffer.from(mutate(original, random, regions));
      // Half keep valid checksums, so damaged sizes, types, names and magics reach past the checksum test.
      if (i % 2 === 0) for (const at of headers) fixHeaderSum(damaged, at);
      const fromFile = await within(exercise(new MemorySource(`mutant-${i}`, damaged)), 10_000, `mutant ${i} (random access)`);
      const chunks = async function* () { for (let at = 0; at < damaged.length; at += 7000) yield damaged.subarray(at, at + 7000); };
      const fromPipe = await within(exercise(new ForwardSource(`mutant-${i}`, chunks())), 10_000, `mutant ${i} (pipe)`);
      outcomes[fromFile.code] = (outcomes[fromFile.code] ?? 0) + 1;
      // A pipe visits a disk as it passes, a file after the whole walk: with damage on both sides of a disk, a disk
      // reader's complaint may come first on one and a tar complaint on the other. Any other difference is a bug.
      if (fromFile.code !== fromPipe.code && fromFile.ours && fromPipe.ours) disagreements.push(`${i}: ${fromFile.code} / ${fromPipe.code}`);
    }
    expect(disagreements).toEqual([]);
    expect(Object.keys(outcomes).length).toBeGreaterThan(5);
    expect(outcomes.ok).toBeGreaterThan(50);
  });
});
