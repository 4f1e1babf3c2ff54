import { describe, expect, it } from 'vitest';
import { SpanEngine, type Span } from '../src/image/spans.js';
import type { Extent } from '../src/image/types.js';
import { Limits } from '../src/limits.js';
import { MemorySource } from '../src/source/memory.js';
import { expectDiskError } from './helpers.js';

const KiB = 1024;
const file = new MemorySource('host', Uint8Array.from({ length: 64 * KiB }, (_, i) => (i * 7) % 256));

/** A 48 KiB disk: 8 KiB data, 8 KiB data contiguous with it, 8 KiB hole, 8 KiB zero, 8 KiB compressed, 8 KiB data. */
const layout = async (offset: number): Promise<Span> => {
  const block = Math.floor(offset / (8 * KiB));
  const length = (block + 1) * 8 * KiB - offset;
  switch (block) {
    case 0:
    case 1:
      return { kind: 'data', length, source: file, hostOffset: offset };
    case 2:
      return { kind: 'unallocated', length };
    case 3:
      return { kind: 'zero', length };
    case 4:
      return {
        kind: 'compressed',
        length,
        unit: { key: 4, guestOffset: 32 * KiB, load: async () => new Uint8Array(8 * KiB).fill(0x5a) },
      };
    default:
      return { kind: 'data', length, source: file, hostOffset: 40 * KiB + (offset - 40 * KiB) + 8 * KiB };
  }
};

async function collect(engine: SpanEngine): Promise<{ offset: number; length: number; zero: boolean; first?: number }[]> {
  const out = [];
  for await (const extent of engine.extents() as AsyncIterable<Extent>) {
    out.push({ offset: extent.offset, length: extent.length, zero: extent.zero === true, first: extent.data?.[0] });
  }
  return out;
}

describe('SpanEngine', () => {
  it('merges contiguous data, skips holes, keeps zero and compressed runs, in guest order', async () => {
    const extents = await collect(new SpanEngine(layout, 48 * KiB));
    expect(extents).toEqual([
      { offset: 0, length: 16 * KiB, zero: false, first: 0 },
      { offset: 24 * KiB, length: 8 * KiB, zero: true, first: undefined },
      { offset: 32 * KiB, length: 8 * KiB, zero: false, first: 0x5a },
      { offset: 40 * KiB, length: 8 * KiB, zero: false, first: (48 * KiB * 7) % 256 },
    ]);
  });

  it('on a forward-only source, reads each run before asking the map about the next offset', async () => {
    const events: string[] = [];
    const source = new MemorySource('pipe', new Uint8Array(64 * KiB));
    const recording = Object.assign(Object.create(source), {
      readInto: async (offset: number, target: Uint8Array) => {
        events.push(`read ${offset / KiB}`);
        await source.readInto(offset, target);
      },
    });
    const map = async (offset: number): Promise<Span> => {
      events.push(`map ${offset / KiB}`);
      return { kind: 'data', length: 8 * KiB, source: recording, hostOffset: offset };
    };
    await collect(new SpanEngine(map, 24 * KiB, { forwardOnly: true }));
    expect(events).toEqual(['map 0', 'read 0', 'map 8', 'read 8', 'map 16', 'read 16']);
  });

  it('splits long data runs into chunks of at most Limits.dataChunk', async () => {
    const size = 2 * Limits.dataChunk + 512;
    const big = new MemorySource('big', new Uint8Array(size));
    const engine = new SpanEngine(async (offset) => ({ kind: 'data', length: size - offset, source: big, hostOffset: offset }), size);
    expect((await collect(engine)).map((extent) => extent.length)).toEqual([Limits.dataChunk, Limits.dataChunk, 512]);
  });

  it('reads across span boundaries at random', async () => {
    const engine = new SpanEngine(layout, 48 * KiB);
    const bytes = await engine.read(15 * KiB, 26 * KiB);
    expect(bytes[0]).toBe(((15 * KiB) * 7) % 256);
    expect(bytes.subarray(KiB, 17 * KiB).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(17 * KiB, 25 * KiB).every((b) => b === 0x5a)).toBe(true);
    expect(bytes[25 * KiB]).toBe((48 * KiB * 7) % 256);
    await expectDiskError(engine.read(40 * KiB, 16 * KiB), 'TRUNCATED');
  });

  it('hands out the right bytes for data runs of every size, with reads finishing out of order', async () => {
    // Runs from 1 byte to a whole dataChunk, split by holes so they do not merge, read by a source that finishes
    // later reads first: the ring the reads land in must never give a region still in use to another read.
    const sizes = [1, 4095, Limits.dataChunk, 3 * KiB, Limits.dataChunk - 1, 700 * KiB, 1, 2 * Limits.dataChunk - 5, 64 * KiB, 1];
    const runs: { offset: number; length: number }[] = [];
    let at = 0;
    for (const length of [...sizes, ...sizes.reverse(), ...sizes]) {
      runs.push({ offset: at, length });
      at += length + 512; // a hole after each run
    }
    const content = Uint8Array.from({ length: at }, (_, i) => (i * 31 + (i >> 12)) % 251);
    const memory = new MemorySource('host', content);
    let reads = 0;
    const slow = Object.assign(Object.create(memory), {
      readInto: async (offset: number, target: Uint8Array) => {
        await new Promise((resolve) => setTimeout(resolve, (reads++ % 3) * 2)); // every third read waits longest
        await memory.readInto(offset, target);
      },
    });
    const map = async (offset: number): Promise<Span> => {
      const run = runs.find((r) => offset < r.offset + r.length + 512)!;
      if (offset < run.offset + run.length) return { kind: 'data', length: run.offset + run.length - offset, source: slow, hostOffset: offset };
      return { kind: 'unallocated', length: run.offset + run.length + 512 - offset };
    };
    let checked = 0;
    for await (const extent of new SpanEngine(map, at).extents()) {
      expect(extent.data).toBeDefined();
      expect(Buffer.compare(extent.data!, content.subarray(extent.offset, extent.offset + extent.length))).toBe(0);
      checked += extent.length;
    }
    expect(checked).toBe(runs.reduce((sum, run) => sum + run.length, 0));
  });

  it('turns a map that makes no progress into INTERNAL instead of looping', async () => {
    const engine = new SpanEngine(async () => ({ kind: 'unallocated', length: 0 }), 4096);
    await expectDiskError(collect(engine), 'INTERNAL');
  });
});
