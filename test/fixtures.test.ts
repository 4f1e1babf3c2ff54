/**
 * The manifest loop: every fixture's facts against the manifest and qemu-img info, its guest bytes against
 * qemu-img convert -O raw, and a forward-only (pipe) read against the random-access one.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskError } from '../src/errors.js';
import { inspect } from '../src/inspect.js';
import { openImage } from '../src/open.js';
import { ForwardSource } from '../src/source/forward.js';
import { expectDiskError, fixture, guestHash, inspectDisk, manifest, qemuRawHash } from './helpers.js';

const readable = manifest.filter((entry) => entry.error === undefined);
const refused = manifest.filter((entry) => entry.error !== undefined);

function qemuVirtualSize(path: string, qemuFormat: string): number {
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', qemuFormat, path], { encoding: 'utf8' }));
  return info['virtual-size'];
}

function pipeSource(path: string): ForwardSource {
  return new ForwardSource('pipe', createReadStream(path, { highWaterMark: 256 * 1024 }));
}

describe.each(readable)('$file', (entry) => {
  const path = fixture(entry.file);

  it('inspect reports the manifest facts and qemu-img virtual size', async () => {
    const report = await inspect(path);
    const facts = ({ format, subformat, virtualSize, partitionTable, bootMode, filesystems }: typeof report | typeof entry) => ({
      format,
      subformat,
      virtualSize,
      partitionTable,
      bootMode,
      filesystems,
    });
    expect(facts(report)).toEqual(facts(entry));
    expect(report.virtualSize).toBe(qemuVirtualSize(path, entry.qemuFormat));
    expect(JSON.parse(JSON.stringify(report))).toEqual(report); // JSON-ready: no bigint, no undefined
  });

  it('guest bytes equal qemu-img convert -O raw', async () => {
    const image = await openImage(path);
    try {
      expect(await guestHash(image)).toBe(qemuRawHash(path, entry.qemuFormat));
    } finally {
      await image.close();
    }
  });

  it('a pipe gives the same facts and bytes as the file, or says why it cannot', async () => {
    const file = await openImage(path);
    const expected = { format: file.format, subformat: file.subformat, hash: await guestHash(file) };
    await file.close();
    try {
      const piped = await openImage(pipeSource(path), { format: entry.format });
      const facts = { format: piped.format, subformat: piped.subformat, hash: await guestHash(piped) };
      await piped.close();
      expect(facts).toEqual(expected);
    } catch (error) {
      // Multi-file VMDKs and out-of-order layouts cannot be streamed: that must be said with a code, not crash.
      expect(error).toBeInstanceOf(DiskError);
      expect(['NOT_SEEKABLE', 'BACKWARD_READ']).toContain((error as DiskError).code);
    }
  });

  it('inspect through a pipe finds the same partitions, boot mode, file systems and ESP loaders, or says why not', async () => {
    const file = await inspectDisk(path);
    let piped;
    try {
      piped = await inspectDisk(pipeSource(path), { format: entry.format });
    } catch (error) {
      expect(['NOT_SEEKABLE', 'BACKWARD_READ']).toContain((error as DiskError).code);
      return;
    }
    expect(piped.randomAccess).toBe(false);
    const facts = (r: typeof file) => ({ table: r.partitionTable, boot: r.bootMode, fs: r.filesystems, parts: r.partitions, problems: r.partitionProblems });
    expect(facts(piped)).toEqual(facts(file));
  });
});

describe.each(refused)('$file is refused', (entry) => {
  it(`with ${entry.error}`, async () => {
    const error = await expectDiskError(inspect(fixture(entry.file)), entry.error!);
    expect(error.file).toBe(fixture(entry.file));
    expect(qemuVirtualSize(fixture(entry.file), entry.qemuFormat)).toBe(entry.virtualSize);
  });
});

it('the manifest names every image the fixture script makes', async () => {
  const { readdirSync } = await import('node:fs');
  const listed = new Set(manifest.map((entry) => entry.file));
  const made = readdirSync(fixture('.')).filter((name) => !name.startsWith('.'));
  // what the manifest leaves out may only be the data files VMDK descriptors and qcow2 data_file point at,
  // and the OVAs (test/formats/ova.test.ts knows what each holds)
  expect(made.filter((name) => !listed.has(name) && !/-(flat|s\d{3}|f\d{3})\.vmdk$|\.bin$|^ova-.*\.ova$/.test(name))).toEqual([]);
  expect([...listed].filter((name) => !made.includes(name))).toEqual([]);
});
