/**
 * The OVA writer: a package our own reader, `diskport check --verify` and tar all accept, whose disks qemu-img
 * compares identical to the sources; several disks; firmware from the boot disk; a pipe as output; names that try
 * to escape the archive.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { check } from '../../src/check.js';
import { bytesOf, writePiecesToFile } from '../../src/convert/sink.js';
import { convert, convertToFile } from '../../src/convert/index.js';
import { writeOva } from '../../src/formats/ova/write.js';
import type { DiskImage } from '../../src/image/types.js';
import { inspect, type OvaReport } from '../../src/inspect.js';
import { openImage } from '../../src/open.js';
import { ForwardSource } from '../../src/source/forward.js';
import { expectDiskError, fixture } from '../helpers.js';
import { expectQemuIdentical } from '../writer-oracle.js';

const dir = mkdtempSync(join(tmpdir(), 'diskport-ova-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function withImages<T>(files: string[], work: (images: DiskImage[]) => Promise<T>): Promise<T> {
  const images: DiskImage[] = [];
  try {
    for (const file of files) images.push(await openImage(file));
    return await work(images);
  } finally {
    for (const image of images) await image.close();
  }
}

function untar(ova: string): { folder: string; names: string[] } {
  const folder = mkdtempSync(join(dir, 'x-'));
  execFileSync('tar', ['-xf', ova, '-C', folder]);
  const names = execFileSync('tar', ['-tf', ova], { encoding: 'utf8' }).trim().split('\n');
  return { folder, names };
}

describe('one disk (convert --to ova)', () => {
  for (const file of ['mbr-bios.qcow2', 'odd.vhdx', 'empty-dynamic.vhd', 'mixed-2gb-sparse.vmdk']) {
    it(`${file}: OVF first, manifest last, the disk compares identical, check --verify passes`, async () => {
      const output = join(dir, `${file}.ova`);
      await withImages([fixture(file)], ([image]) => convertToFile(image!, output, { to: 'ova', name: 'vm' }));
      const { folder, names } = untar(output);
      expect(names).toEqual(['vm.ovf', 'vm-disk1.vmdk', 'vm.mf']);
      const qemuFormat = { qcow2: 'qcow2', vhdx: 'vhdx', vhd: 'vpc', vmdk: 'vmdk' }[file.split('.').pop()!]!;
      expectQemuIdentical(fixture(file), qemuFormat, join(folder, 'vm-disk1.vmdk'), 'vmdk');
      const manifest = readFileSync(join(folder, 'vm.mf'), 'utf8');
      for (const name of ['vm.ovf', 'vm-disk1.vmdk']) {
        const digest = execFileSync('sha256sum', [join(folder, name)], { encoding: 'utf8' }).split(' ')[0];
        expect(manifest).toContain(`SHA256(${name})= ${digest}`);
      }
      const report = (await inspect(output, { verify: true })) as OvaReport;
      expect(report.format).toBe('ova');
      expect(report.disks).toHaveLength(1);
      expect(report.disks[0]!.subformat).toBe('streamOptimized');
      expect(report.verification?.mismatches).toEqual([]);
      const source = await inspect(fixture(file));
      expect(report.virtualSize).toBe(source.virtualSize);
      const checked = await check(output);
      expect(checked.findings.filter((finding) => finding.severity === 'error' && finding.code.startsWith('OVA'))).toEqual([]);
      expect(checked.findings.map((finding) => finding.code)).not.toContain('MANIFEST_MISMATCH');
    });
  }

  it('streams to a pipe: convert() output is a valid OVA too', async () => {
    const chunks = await withImages([fixture('mixed.qcow2')], async ([image]) => {
      const out: Buffer[] = [];
      for await (const chunk of convert(image!, { to: 'ova', name: 'piped' })) out.push(Buffer.from(chunk));
      return out;
    });
    const output = join(dir, 'piped.ova');
    writeFileSync(output, Buffer.concat(chunks));
    const { folder, names } = untar(output);
    expect(names).toEqual(['piped.ovf', 'piped-disk1.vmdk', 'piped.mf']);
    expectQemuIdentical(fixture('mixed.qcow2'), 'qcow2', join(folder, 'piped-disk1.vmdk'), 'vmdk');
    const report = (await inspect(createReadStreamSource(output), { verify: true })) as OvaReport;
    expect(report.verification?.mismatches).toEqual([]);
  });

  it('refuses a pipe as the input (each disk is read twice), with NOT_SEEKABLE', async () => {
    const source = new ForwardSource('stdin', createReadStream(fixture('mixed.qcow2')));
    const image = await openImage(source);
    try {
      await expectDiskError(convertToFile(image, join(dir, 'nope.ova'), { to: 'ova' }), 'NOT_SEEKABLE');
    } finally {
      await image.close();
    }
  });
});

function createReadStreamSource(path: string): ForwardSource {
  return new ForwardSource(path, createReadStream(path));
}

describe('several disks (writeOva)', () => {
  it('lists each disk in order with its capacity, boot disk first', async () => {
    const output = join(dir, 'two.ova');
    const files = [fixture('gpt-uefi.qcow2'), fixture('odd.vmdk')];
    await withImages(files, (images) => writePiecesToFile(writeOva(images, { name: 'two', workers: 2 }), output));
    const { folder, names } = untar(output);
    expect(names).toEqual(['two.ovf', 'two-disk1.vmdk', 'two-disk2.vmdk', 'two.mf']);
    expectQemuIdentical(files[0]!, 'qcow2', join(folder, 'two-disk1.vmdk'), 'vmdk');
    expectQemuIdentical(files[1]!, 'vmdk', join(folder, 'two-disk2.vmdk'), 'vmdk');
    const report = (await inspect(output)) as OvaReport;
    expect(report.disks.map((disk) => disk.href)).toEqual(['two-disk1.vmdk', 'two-disk2.vmdk']);
    expect(report.disks.map((disk) => disk.virtualSize)).toEqual([67108864, 5244416]);
    expect(report.ovf.firmware).toBe('bios'); // gpt-uefi boots both ways
  });

  it('says efi when the boot disk boots only by UEFI', async () => {
    // The UEFI fixture without its BIOS boot partition: only the ESP's loader boots it now.
    const raw = join(dir, 'uefi-only.raw');
    copyFileSync(fixture('gpt-uefi.raw'), raw);
    execFileSync('sgdisk', ['-d', '1', raw], { stdio: 'ignore' });
    const output = join(dir, 'uefi.ova');
    await withImages([raw], (images) => writePiecesToFile(writeOva(images, { name: 'uefi', workers: 1 }), output));
    const report = (await inspect(output)) as OvaReport;
    expect(report.ovf.firmware).toBe('efi');
  });

  it('keeps the entry names inside the archive whatever the VM name', async () => {
    const output = join(dir, 'hostile.ova');
    await withImages([fixture('small.raw')], (images) =>
      writePiecesToFile(writeOva(images, { name: '../../etc/evil\u0001name', workers: 1 }), output),
    );
    const { names } = untar(output);
    for (const name of names) expect(name).toMatch(/^[^/\\]+$/);
    expect((await inspect(output)).format).toBe('ova');
  });

  it('refuses an empty disk list', async () => {
    await expectDiskError(collect(writeOva([], { name: 'none', workers: 1 })), 'USAGE');
  });
});

async function collect(pieces: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const _ of bytesOf(pieces as never)) count++;
  return count;
}
