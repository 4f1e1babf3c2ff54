/**
 * The mutation harness every reader's test uses: thousands of damaged copies of a real fixture's metadata, each
 * of which must end in a result or a DiskError — never another exception, a hang, or a read past the limits.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { DiskError } from '../src/errors.js';
import { openImage } from '../src/open.js';
import { MemorySource } from '../src/source/memory.js';
import { mutate, seeded } from './helpers.js';

export interface MutationRun {
  /** Fixture path. */
  path: string;
  /** Byte ranges [start, end) of metadata to damage. */
  regions: [number, number][];
  count: number;
  seed: number;
  /** Per-mutant time limit before it counts as a hang. */
  timeoutMs?: number;
}

/** Returns how many mutants opened fine and how many ended in each error code. */
export async function runMutations(run: MutationRun): Promise<Record<string, number>> {
  const original = readFileSync(run.path);
  const random = seeded(run.seed);
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < run.count; i++) {
    const damaged = mutate(original, random, run.regions);
    const outcome = await withTimeout(exercise(new MemorySource(`mutant-${i}`, damaged)), run.timeoutMs ?? 10_000, i);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  return outcomes;
}

/** Opens the image, walks the first extents and does a few random reads. */
async function exercise(source: MemorySource): Promise<string> {
  try {
    const image = await openImage(source);
    let seen = 0;
    for await (const extent of image.extents()) {
      expect(extent.length).toBeGreaterThan(0);
      if (++seen >= 64) break;
    }
    const size = image.virtualSize ?? 0;
    for (const at of [0, Math.floor(size / 2), Math.max(0, size - 4096)]) {
      await image.read(at, Math.min(4096, size - at));
    }
    await image.close();
    return 'ok';
  } catch (error) {
    if (!(error instanceof DiskError) || error.code === 'INTERNAL') throw error;
    return error.code;
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, index: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`mutant ${index} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, hang]);
  } finally {
    clearTimeout(timer);
  }
}
