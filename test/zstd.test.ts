/**
 * The zstd unit decoder's own checks, on frames written byte by byte (raw and RLE blocks need no entropy coding):
 * the header limits that keep fzstd from allocating what a hostile frame declares, the frame measured out of the
 * bytes that follow it, and decoded sizes counted rather than trusted. Real qemu frames are read in qcow2.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { decompressZstdUnit } from '../src/image/zstd.js';

const UNIT = 4096;

class Failure extends Error {}
const options = { unitBytes: UNIT, fail: (reason: string) => new Failure(reason) };

interface Block {
  type: 'raw' | 'rle';
  bytes: number[] | { byte: number; count: number };
  last?: boolean;
}

/** A frame: magic, descriptor, optional window byte, content size, blocks, optional checksum. */
function frame(parts: { descriptor?: number; window?: number; contentSize?: number[]; blocks: Block[]; checksum?: boolean }): Uint8Array {
  const out = [0x28, 0xb5, 0x2f, 0xfd];
  // Default: single segment, 2-byte content size (UNIT - 256, little-endian), as qemu writes.
  out.push(parts.descriptor ?? (0x60 | (parts.checksum ? 0x04 : 0)));
  if (parts.window !== undefined) out.push(parts.window);
  out.push(...(parts.contentSize ?? [(UNIT - 256) & 0xff, (UNIT - 256) >> 8]));
  parts.blocks.forEach((block, index) => {
    const last = block.last ?? index === parts.blocks.length - 1;
    const payload = Array.isArray(block.bytes) ? block.bytes : [block.bytes.byte];
    const size = Array.isArray(block.bytes) ? block.bytes.length : block.bytes.count;
    const header = (last ? 1 : 0) | ((block.type === 'raw' ? 0 : 1) << 1) | (size << 3);
    out.push(header & 0xff, (header >> 8) & 0xff, header >> 16, ...payload);
  });
  if (parts.checksum) out.push(1, 2, 3, 4);
  return new Uint8Array(out);
}

const half = (byte: number): Block => ({ type: 'rle', bytes: { byte, count: UNIT / 2 } });

function failure(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(Failure);
    return (error as Error).message;
  }
  throw new Error('expected a failure');
}

describe('decompressZstdUnit', () => {
  it('decodes raw and RLE blocks to exactly the unit', () => {
    const raw = Array.from({ length: 100 }, (_, i) => i);
    const out = decompressZstdUnit(frame({ blocks: [{ type: 'raw', bytes: raw }, { type: 'rle', bytes: { byte: 7, count: UNIT - 100 } }] }), options);
    expect(out.length).toBe(UNIT);
    expect([...out.subarray(0, 100)]).toEqual(raw);
    expect(out.subarray(100).every((byte) => byte === 7)).toBe(true);
  });

  it('ignores what follows the frame (the rest of the last sector, the next cluster) and skips a checksum', () => {
    const exact = frame({ blocks: [half(1), half(2)], checksum: true });
    const padded = new Uint8Array(exact.length + 700).fill(0xee);
    padded.set(exact);
    const out = decompressZstdUnit(padded, options);
    expect(out[0]).toBe(1);
    expect(out[UNIT - 1]).toBe(2);
  });

  it('accepts the other content-size widths and a window descriptor', () => {
    // Not single segment: window byte 0x10 (exponent 2: 4 KiB), then a 4-byte content size.
    const wide = frame({ descriptor: 0x80, window: 0x10, contentSize: [0, 16, 0, 0], blocks: [half(3), half(4)] });
    expect(decompressZstdUnit(wide, options)[UNIT - 1]).toBe(4);
    const eight = frame({ descriptor: 0xe0, contentSize: [0, 16, 0, 0, 0, 0, 0, 0], blocks: [half(5), half(6)] });
    expect(decompressZstdUnit(eight, options)[0]).toBe(5);
  });

  it('a frame that decodes short or long fails instead of padding or overrunning', () => {
    expect(failure(() => decompressZstdUnit(frame({ blocks: [half(1)] }), options))).toContain(`decodes to ${UNIT / 2} bytes, not ${UNIT}`);
    expect(failure(() => decompressZstdUnit(frame({ blocks: [half(1), half(2), half(3)] }), options))).toContain('more than');
  });

  it.each([
    ['no magic', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 'magic'],
    ['too short for a header', new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), 'magic'],
    ['the reserved descriptor bit', frame({ descriptor: 0x68, blocks: [half(1), half(1)] }), 'reserved bit'],
    ['a dictionary', frame({ descriptor: 0x61, blocks: [half(1), half(1)] }), 'dictionary'],
    ['no content size', frame({ descriptor: 0x00, window: 0x10, contentSize: [], blocks: [half(1), half(1)] }), 'does not declare'],
    ['another content size', frame({ contentSize: [0xff, 0xff], blocks: [half(1), half(1)] }), 'declares 65791 bytes'],
    ['a 2 GiB window', frame({ descriptor: 0x80, window: 0xa8, contentSize: [0, 16, 0, 0], blocks: [half(1), half(1)] }), 'window exceeds'],
    ['a header cut short', new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x80, 0x10, 0]), 'cut short'],
  ])('%s -> fails before decoding', (_name, bytes, reason) => {
    expect(failure(() => decompressZstdUnit(bytes, options))).toContain(reason);
  });

  it('blocks that lie about their size or type, or run past the data, fail', () => {
    const whole = frame({ blocks: [half(1), half(2)] });
    const reservedType = whole.slice();
    reservedType[7] = reservedType[7]! | 0x06; // the first block's type -> 3
    expect(failure(() => decompressZstdUnit(reservedType, options))).toContain('reserved type');
    const huge = whole.slice();
    huge[9] = 0xff; // the first block's size -> over 128 KiB
    expect(failure(() => decompressZstdUnit(huge, options))).toContain('over zstd');
    expect(failure(() => decompressZstdUnit(whole.subarray(0, whole.length - 3), options))).toContain('inside a block header');
    const raw = frame({ blocks: [{ type: 'raw', bytes: Array(UNIT).fill(9) }] });
    expect(failure(() => decompressZstdUnit(raw.subarray(0, raw.length - 1), options))).toContain('runs past');
    const endless = frame({ blocks: [half(1), { ...half(2), last: false }] });
    expect(failure(() => decompressZstdUnit(endless, options))).toContain('inside a block header');
  });

  it('garbage inside a compressed block is an fzstd error, reported through fail', () => {
    // A compressed block (type 2) of 8 bytes of nonsense.
    const bytes = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x00, 0x0f, 0x45, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(failure(() => decompressZstdUnit(bytes, options))).toMatch(/zstd|decodes/);
  });
});
