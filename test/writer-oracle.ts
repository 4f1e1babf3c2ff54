/**
 * qemu-img as the judge of a writer: the output converted from a fixture must pass `qemu-img check` (where the
 * format has one), `qemu-img compare` identical to the source, and read back through our own reader to the same
 * guest bytes.
 */
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { convertToFile, type ConvertOptions } from '../src/convert/index.js';
import type { FormatName } from '../src/image/types.js';
import { openImage } from '../src/open.js';
import { fixture, guestHash, type ManifestEntry } from './helpers.js';

/** qemu-img's driver name for each of our formats. */
export const QEMU_FORMAT: Record<FormatName, string> = { raw: 'raw', vmdk: 'vmdk', vhd: 'vpc', vhdx: 'vhdx', qcow2: 'qcow2' };

/** The fixtures every writer is run over: each one our reader opens (not the deliberately broken ones). */
export function readableFixtures(entries: readonly ManifestEntry[]): ManifestEntry[] {
  return entries.filter((entry) => entry.error === undefined);
}

/** `qemu-img check` on the output: clean (exit 0), or "format has no check" (exit 63, e.g. vpc and raw). */
export function expectQemuCheckClean(path: string, format: FormatName): void {
  const result = spawnSync('qemu-img', ['check', '-f', QEMU_FORMAT[format], path], { encoding: 'utf8' });
  if (result.status === 63) return;
  expect(result.status, `qemu-img check ${path}: ${result.stdout}${result.stderr}`).toBe(0);
}

/** `qemu-img compare` says identical (exit 0). With `strict`, the virtual sizes must match too (-s). */
export function expectQemuIdentical(source: string, sourceFormat: string, output: string, outputFormat: FormatName): void {
  const args = ['compare', '-f', sourceFormat, '-F', QEMU_FORMAT[outputFormat], source, output];
  const result = spawnSync('qemu-img', args, { encoding: 'utf8' });
  expect(result.status, `qemu-img ${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(0);
}

/** qemu-img's idea of the output's virtual size. */
export function qemuVirtualSize(path: string, format: FormatName): number {
  const result = spawnSync('qemu-img', ['info', '--output=json', '-f', QEMU_FORMAT[format], path], { encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { 'virtual-size': number })['virtual-size'];
}

/**
 * Converts the fixture to `output` and judges it: qemu-img check clean, qemu-img compare identical, the same
 * virtual size for qemu-img and for us, and our reader reading back the source's guest bytes.
 */
export async function expectFaithfulConversion(entry: ManifestEntry, output: string, options: ConvertOptions & { to: FormatName }): Promise<void> {
  const source = await openImage(fixture(entry.file));
  let sourceHash: string;
  try {
    await convertToFile(source, output, options);
    sourceHash = await guestHash(source);
  } finally {
    await source.close();
  }
  expectQemuCheckClean(output, options.to);
  expectQemuIdentical(fixture(entry.file), entry.qemuFormat, output, options.to);
  const written = await openImage(output);
  try {
    expect(written.format).toBe(options.to);
    expect(written.virtualSize).toBe(qemuVirtualSize(output, options.to));
    expect(await guestHash(written)).toBe(sourceHash);
  } finally {
    await written.close();
  }
}
