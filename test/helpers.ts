/** Shared test helpers: the fixture manifest, qemu-img as the oracle, and a seeded byte-flipper. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { guestBytes } from '../src/cat.js';
import { inspect, type DiskReport } from '../src/inspect.js';
import { DiskError } from '../src/errors.js';
import type { DiskImage } from '../src/image/types.js';
import { openImage } from '../src/open.js';
import { MemorySource } from '../src/source/memory.js';

export const FIXTURES = join(import.meta.dirname, 'images', 'out');

export interface ManifestEntry {
  file: string;
  format: 'raw' | 'vmdk' | 'vhd' | 'vhdx' | 'qcow2';
  subformat: string | null;
  virtualSize: number;
  qemuFormat: string;
  partitionTable?: 'mbr' | 'gpt' | null;
  bootMode?: 'legacy-bios' | 'uefi' | 'uefi-preferred' | null;
  filesystems?: string[];
  error?: string;
  note?: string;
}

export const manifest: ManifestEntry[] = JSON.parse(
  readFileSync(join(import.meta.dirname, 'images', 'manifest.json'), 'utf8'),
).images;

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** sha256 of what `qemu-img convert -O raw` makes of the file: the oracle for guest content. */
export function qemuRawHash(path: string, qemuFormat: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'diskport-qemu-'));
  try {
    const out = join(dir, 'out.raw');
    execFileSync('qemu-img', ['convert', '-f', qemuFormat, '-O', 'raw', path, out]);
    return sha256File(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function sha256File(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]!;
}

/** sha256 of the guest bytes our reader produces. */
export async function guestHash(image: DiskImage): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of guestBytes(image)) hash.update(chunk);
  return hash.digest('hex');
}

/** Expects `work` to reject with a DiskError of the given code; returns the error. */
export async function expectDiskError(work: Promise<unknown>, code: string): Promise<DiskError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(DiskError);
  expect((error as DiskError).code).toBe(code);
  return error as DiskError;
}

/** A deterministic generator (xorshift32) for mutation tests. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

/**
 * Returns a copy of `bytes` with 1-4 damaged bytes inside the given regions ([start, end) pairs): random values,
 * all-ones, or zero, which is what hostile headers look like (huge counts, offsets past the end, no magic).
 */
export function mutate(bytes: Uint8Array, random: () => number, regions: [number, number][]): Uint8Array {
  const copy = new Uint8Array(bytes); // a copy, even when `bytes` is a Buffer (whose slice() is a view)
  const flips = 1 + (random() % 4);
  for (let i = 0; i < flips; i++) {
    const [start, end] = regions[random() % regions.length]!;
    const at = start + (random() % Math.max(1, Math.min(end, copy.length) - start));
    const style = random() % 3;
    copy[at] = style === 0 ? random() & 0xff : style === 1 ? 0xff : 0;
  }
  return copy;
}

/** inspect() of a file that must be a disk image (not an OVA): its DiskReport. */
export async function inspectDisk(input: Parameters<typeof inspect>[0], options?: Parameters<typeof inspect>[1]): Promise<DiskReport> {
  const report = await inspect(input, options);
  if (report.format === 'ova') throw new Error(`${report.file} is an OVA, not a disk image`);
  return report;
}

/**
 * mutate() in place: damages 1-4 bytes of `bytes` inside the regions and returns what puts them back. For large
 * images, where copying the whole image per mutant would cost more than the reading under test.
 */
export function mutateInPlace(bytes: Uint8Array, random: () => number, regions: [number, number][]): () => void {
  const saved: [number, number][] = [];
  for (let flips = 1 + (random() % 4); flips > 0; flips--) {
    const [start, end] = regions[random() % regions.length]!;
    const at = start + (random() % Math.max(1, end - start));
    saved.push([at, bytes[at]!]);
    const style = random() % 3;
    bytes[at] = style === 0 ? random() & 0xff : style === 1 ? 0xff : 0;
  }
  return () => {
    for (const [at, value] of saved.reverse()) bytes[at] = value;
  };
}

/**
 * Reads `count` mutants of file-system volumes (each damaged in place by mutateInPlace and restored after) with
 * `probe`, through a RAW DiskImage over the bytes. A DiskError becomes its code as the outcome; anything else
 * thrown fails the test. Returns each mutant's outcome (with its target) and the slowest probe.
 */
export async function runVolumeMutants(
  targets: { bytes: Uint8Array; regions: [number, number][] }[],
  count: number,
  seed: number,
  probe: (image: DiskImage, size: number) => Promise<string>,
): Promise<{ outcomes: Map<string, number>; results: { target: number; outcome: string }[]; slowestMs: number }> {
  const random = seeded(seed);
  const outcomes = new Map<string, number>();
  const results: { target: number; outcome: string }[] = [];
  let slowestMs = 0;
  for (let i = 0; i < count; i++) {
    const target = i % targets.length;
    const { bytes, regions } = targets[target]!;
    const restore = mutateInPlace(bytes, random, regions);
    try {
      const image = await openImage(new MemorySource('mutant', bytes), { format: 'raw' });
      const started = performance.now();
      let outcome: string;
      try {
        outcome = await probe(image, bytes.length);
      } catch (error) {
        if (!(error instanceof DiskError)) throw error;
        outcome = error.code;
      }
      slowestMs = Math.max(slowestMs, performance.now() - started);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      results.push({ target, outcome });
    } finally {
      restore();
    }
  }
  return { outcomes, results, slowestMs };
}
