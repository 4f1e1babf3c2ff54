/**
 * VHDX-specific cases: header and region-table copies, CRC-32C, metadata and BAT checks, the log, differencing
 * disks, forward-only reading, 4096-byte sectors, and a 2 TiB sparse image. Damaged copies are made in memory
 * from qemu-made fixtures, with checksums recomputed where the damage must get past them.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c, crc32cWithZeroedField } from '../../src/formats/vhdx/crc32c.js';
import { vhdx } from '../../src/formats/vhdx/index.js';
import { MetadataGuid, ParentLocatorEntry, ParentLocatorHeader, VHDX_PARENT_LOCATOR_TYPE } from '../../src/formats/vhdx/structs.js';
import type { DiskImage } from '../../src/image/types.js';

import { Limits } from '../../src/limits.js';
import { openImage } from '../../src/open.js';
import { ForwardSource } from '../../src/source/forward.js';
import { MemorySource } from '../../src/source/memory.js';
import { parseGuid } from '../../src/struct/index.js';
import { expectDiskError, fixture, inspectDisk, guestHash, qemuRawHash } from '../helpers.js';
import { runMutations } from '../mutation.js';

const MiB = 1024 * 1024;
const TiB = 1024 * 1024 * MiB;
const BAT_GUID = '2DC27766-F623-4200-9D64-115E9BFD4A08';
const METADATA_GUID = '8B7CA206-4790-4B9A-B8FE-575F050F886E';
const H1 = 0x10000;
const H2 = 0x20000;
const RT1 = 0x30000;
const RT2 = 0x40000;

/** A source that remembers the largest single read, to show hostile sizes never reach an allocation. */
class WatchedSource extends MemorySource {
  largestRead = 0;
  override async read(offset: number, length: number): Promise<Uint8Array> {
    this.largestRead = Math.max(this.largestRead, length);
    return super.read(offset, length);
  }
}

/** A forward-only source over in-memory chunks, like a pipe. */
function pipeOf(chunks: Uint8Array[]): ForwardSource {
  return new ForwardSource('pipe', (async function* () {
    yield* chunks;
  })());
}

/** XORs one byte of a damaged copy. */
function flip(bytes: Buffer, at: number, mask: number): void {
  bytes.writeUInt8(bytes.readUInt8(at) ^ mask, at);
}

function load(name: string): Buffer {
  return readFileSync(fixture(name));
}

function openBytes(bytes: Uint8Array, name = 'damaged.vhdx'): Promise<DiskImage> {
  return openImage(new MemorySource(name, bytes));
}

async function hashOf(bytes: Uint8Array): Promise<string> {
  const image = await openBytes(bytes);
  try {
    return await guestHash(image);
  } finally {
    await image.close();
  }
}

function fixHeaderCrc(buf: Buffer, at: number): void {
  buf.writeUInt32LE(crc32cWithZeroedField(buf.subarray(at, at + 4096), 4), at + 4);
}

function fixRegionTableCrc(buf: Buffer, at: number): void {
  buf.writeUInt32LE(crc32cWithZeroedField(buf.subarray(at, at + 65536), 4), at + 4);
}

/** File offset of region table 1's entry for `guid`. */
function regionEntryAt(buf: Buffer, guid: string, table = RT1): number {
  const want = Buffer.from(parseGuid(guid));
  const count = buf.readUInt32LE(table + 8);
  for (let i = 0; i < count; i++) {
    const at = table + 16 + i * 32;
    if (buf.subarray(at, at + 16).equals(want)) return at;
  }
  throw new Error(`region ${guid} not found`);
}

function regionOffset(buf: Buffer, guid: string): number {
  return Number(buf.readBigUInt64LE(regionEntryAt(buf, guid) + 16));
}

/** File offset of a metadata item's bytes. */
function itemAt(buf: Buffer, guid: string): number {
  const region = regionOffset(buf, METADATA_GUID);
  const want = Buffer.from(parseGuid(guid));
  const count = buf.readUInt16LE(region + 10);
  for (let i = 0; i < count; i++) {
    const at = region + 32 + i * 32;
    if (buf.subarray(at, at + 16).equals(want)) return region + buf.readUInt32LE(at + 16);
  }
  throw new Error(`metadata item ${guid} not found`);
}

function batAt(buf: Buffer, index: number): number {
  return regionOffset(buf, BAT_GUID) + index * 8;
}

/** Appends an entry to the metadata table (the metadata region has no checksum to fix). */
function addMetadataItem(buf: Buffer, guid: string, offset: number, bytes: Uint8Array, flags: number): void {
  const region = regionOffset(buf, METADATA_GUID);
  const count = buf.readUInt16LE(region + 10);
  const at = region + 32 + count * 32;
  Buffer.from(parseGuid(guid)).copy(buf, at);
  buf.writeUInt32LE(offset, at + 16);
  buf.writeUInt32LE(bytes.length, at + 20);
  buf.writeUInt32LE(flags, at + 24);
  buf.writeUInt16LE(count + 1, region + 10);
  buf.set(bytes, region + offset);
}

function parentLocator(pairs: Record<string, string>): Uint8Array {
  const entries = Object.entries(pairs);
  const strings: Buffer[] = [];
  let next = ParentLocatorHeader.size + entries.length * ParentLocatorEntry.size;
  const out = Buffer.alloc(4096);
  ParentLocatorHeader.encode({ locatorType: VHDX_PARENT_LOCATOR_TYPE, keyValueCount: entries.length }, out);
  entries.forEach(([key, value], i) => {
    const k = Buffer.from(key, 'utf16le');
    const v = Buffer.from(value, 'utf16le');
    ParentLocatorEntry.encode(
      { keyOffset: next, keyLength: k.length, valueOffset: next + k.length, valueLength: v.length },
      out,
      ParentLocatorHeader.size + i * ParentLocatorEntry.size,
    );
    strings.push(k, v);
    next += k.length + v.length;
  });
  Buffer.concat(strings).copy(out, ParentLocatorHeader.size + entries.length * ParentLocatorEntry.size);
  return out.subarray(0, next);
}

describe('crc32c', () => {
  it('matches the Castagnoli check value and the checksums qemu stored', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // Split computation continues correctly.
    const text = Buffer.from('The quick brown fox jumps over the lazy dog, twice over.');
    expect(crc32c(text.subarray(13), crc32c(text.subarray(0, 13)))).toBe(crc32c(text));
    const buf = load('mixed.vhdx');
    for (const at of [H1, H2]) expect(crc32cWithZeroedField(buf.subarray(at, at + 4096), 4)).toBe(buf.readUInt32LE(at + 4));
    for (const at of [RT1, RT2]) expect(crc32cWithZeroedField(buf.subarray(at, at + 65536), 4)).toBe(buf.readUInt32LE(at + 4));
  });
});

describe('vhdx detection and facts', () => {
  it('detects "vhdxfile" at 0 only', () => {
    const probe = (head: Uint8Array) => ({ head, tail: undefined, size: head.length, name: 'x' });
    expect(vhdx.detect(probe(load('empty.vhdx').subarray(0, 65536)))).toBe(true);
    expect(vhdx.detect(probe(Buffer.from('vhdxfil')))).toBe(false);
    expect(vhdx.detect(probe(Buffer.from('conectix')))).toBe(false);
  });

  it('reports creator, block and sector sizes, sequence and subformat', async () => {
    const report = await inspectDisk(fixture('odd-1m.vhdx'));
    expect(report.format).toBe('vhdx');
    expect(report.subformat).toBe('dynamic');
    expect(report.details).toMatchObject({
      creator: expect.stringMatching(/^QEMU/),
      blockSize: MiB,
      logicalSectorSize: 512,
      physicalSectorSize: 512,
      leaveBlockAllocated: false,
      currentHeader: 2,
    });
    expect(report.details.virtualDiskId).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
    expect(typeof report.details.headerSequence).toBe('number');
    expect(report.allocatedSize).toBe(report.virtualSize);
    expect(report.bytesRead).toBeLessThan(400 * 1024);
  });

  it('small-fixed.vhdx is fixed: qemu sets LeaveBlockAllocated (and still marks its zero block ZERO)', async () => {
    const buf = load('small-fixed.vhdx');
    expect(buf.readUInt32LE(itemAt(buf, MetadataGuid.fileParameters) + 4) & 1).toBe(1);
    expect(Number(buf.readBigUInt64LE(batAt(buf, 1)) & 7n)).toBe(2);
    const report = await inspectDisk(fixture('small-fixed.vhdx'));
    expect(report.subformat).toBe('fixed');
    expect(report.details.leaveBlockAllocated).toBe(true);
    expect(report.allocatedSize).toBe(8 * MiB);
    // Clearing the flag makes the same file dynamic.
    buf.writeUInt32LE(0, itemAt(buf, MetadataGuid.fileParameters) + 4);
    const image = await openBytes(buf);
    expect(image.subformat).toBe('dynamic');
    await image.close();
  });

  it.each([
    ['small-256m.vhdx', 256 * MiB, 16],
    ['odd-1m.vhdx', MiB, 4096],
  ])('%s reads like qemu-img', async (name, blockSize, chunkRatio) => {
    const image = await openImage(fixture(name));
    try {
      expect(image.details.blockSize).toBe(blockSize);
      expect(image.details.chunkRatio).toBe(chunkRatio);
      expect(await guestHash(image)).toBe(qemuRawHash(fixture(name), 'vhdx'));
    } finally {
      await image.close();
    }
  });

  it('a fully allocated run of blocks comes out as few large reads', async () => {
    const image = await openImage(fixture('odd-1m.vhdx'));
    const lengths: number[] = [];
    for await (const extent of image.extents()) lengths.push(extent.length);
    await image.close();
    // Six contiguous 1 MiB blocks: one 4 MiB piece and the rest, not six 1 MiB pieces.
    expect(lengths).toEqual([4 * MiB, 5244416 - 4 * MiB]);
  });
});

describe('vhdx headers and region tables', () => {
  it('uses header 1 when header 2 (the current one) is damaged, and says so', async () => {
    const buf = load('odd-1m.vhdx');
    const expected = await hashOf(buf);
    flip(buf, H2 + 0x100, 0xff);
    const image = await openBytes(buf);
    expect(image.details.currentHeader).toBe(1);
    expect(image.details.notes).toEqual([expect.stringContaining('header 2 is unusable (bad checksum)')]);
    expect(await guestHash(image)).toBe(expected);
    await image.close();
  });

  it('opens when header 1 is corrupt but header 2 is fine', async () => {
    const buf = load('odd-1m.vhdx');
    buf.write('junk', H1, 'latin1');
    const image = await openBytes(buf);
    expect(image.details.currentHeader).toBe(2);
    expect(image.details.notes).toEqual([expect.stringContaining('header 1 is unusable (no signature)')]);
    await image.close();
  });

  it('prefers the valid header with the higher sequence number', async () => {
    const buf = load('odd-1m.vhdx');
    buf.writeBigUInt64LE(buf.readBigUInt64LE(H2 + 8) + 10n, H1 + 8);
    fixHeaderCrc(buf, H1);
    const image = await openBytes(buf);
    expect(image.details.currentHeader).toBe(1);
    expect(image.details.notes).toBeUndefined();
    await image.close();
  });

  it('both headers with bad checksums -> BAD_CHECKSUM; without signatures -> BAD_MAGIC', async () => {
    const buf = load('odd-1m.vhdx');
    flip(buf, H1 + 0x60, 1);
    flip(buf, H2 + 0x60, 1);
    const error = await expectDiskError(openBytes(buf), 'BAD_CHECKSUM');
    expect(error.format).toBe('vhdx');
    expect(error.field).toBe('header.checksum');
    buf.fill(0, H1, H1 + 4);
    buf.fill(0, H2, H2 + 4);
    await expectDiskError(openBytes(buf), 'BAD_MAGIC');
  });

  it('header version 2 -> UNSUPPORTED_VERSION', async () => {
    const buf = load('odd-1m.vhdx');
    buf.writeUInt16LE(2, H2 + 0x42);
    fixHeaderCrc(buf, H2);
    const error = await expectDiskError(openBytes(buf), 'UNSUPPORTED_VERSION');
    expect(error.offset).toBe(H2 + 0x42);
  });

  it('a non-zero LogGuid -> VHDX_LOG_NOT_EMPTY with how to replay it', async () => {
    const buf = load('odd-1m.vhdx');
    Buffer.from(parseGuid('0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0')).copy(buf, H2 + 0x30);
    fixHeaderCrc(buf, H2);
    const error = await expectDiskError(openBytes(buf), 'VHDX_LOG_NOT_EMPTY');
    expect(error.message).toContain('0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0');
    expect(error.message).toContain('qemu-img check -r all');
    expect(error.field).toBe('header.log_guid');
    expect(buf.subarray(H1 + 0x30, H1 + 0x40).every((byte) => byte === 0)).toBe(true); // header 1 is older: no way around
  });

  it('region table 1 damaged -> table 2 is used; both damaged -> BAD_CHECKSUM', async () => {
    const buf = load('odd-1m.vhdx');
    const expected = await hashOf(buf);
    flip(buf, RT1 + 0x200, 0x40);
    const image = await openBytes(buf);
    expect(image.details.notes).toEqual([expect.stringContaining('region table 1 is unusable (bad checksum)')]);
    expect(await guestHash(image)).toBe(expected);
    await image.close();
    flip(buf, RT2 + 0x200, 0x40);
    const error = await expectDiskError(openBytes(buf), 'BAD_CHECKSUM');
    expect(error.field).toBe('region_table.checksum');
    buf.fill(0, RT1, RT1 + 4);
    buf.fill(0, RT2, RT2 + 4);
    await expectDiskError(openBytes(buf), 'BAD_MAGIC');
  });

  it('region entry count over 2047 (checksum valid) -> BAD_HEADER when both copies say so', async () => {
    const buf = load('odd-1m.vhdx');
    for (const at of [RT1, RT2]) {
      buf.writeUInt32LE(5000, at + 8);
      fixRegionTableCrc(buf, at);
    }
    await expectDiskError(openBytes(buf), 'BAD_HEADER');
  });

  it('a region offset past the end -> OFFSET_OUT_OF_RANGE', async () => {
    const buf = load('odd-1m.vhdx');
    buf.writeBigUInt64LE(BigInt(1024 * MiB), regionEntryAt(buf, BAT_GUID) + 16);
    fixRegionTableCrc(buf, RT1);
    const error = await expectDiskError(openBytes(buf), 'OFFSET_OUT_OF_RANGE');
    expect(error.field).toBe('region.bat');
  });

  it('a region offset or length not 1 MiB aligned -> BAD_HEADER', async () => {
    const buf = load('odd-1m.vhdx');
    const entry = regionEntryAt(buf, METADATA_GUID);
    buf.writeBigUInt64LE(BigInt(3 * MiB + 4096), entry + 16);
    fixRegionTableCrc(buf, RT1);
    await expectDiskError(openBytes(buf), 'BAD_HEADER');
    const again = load('odd-1m.vhdx');
    again.writeUInt32LE(MiB / 2, regionEntryAt(again, BAT_GUID) + 24);
    fixRegionTableCrc(again, RT1);
    await expectDiskError(openBytes(again), 'BAD_HEADER');
  });

  it('a region length implying a huge table -> LIMIT_EXCEEDED without reading it', async () => {
    const buf = load('odd-1m.vhdx');
    buf.writeUInt32LE(2048 * MiB, regionEntryAt(buf, BAT_GUID) + 24);
    fixRegionTableCrc(buf, RT1);
    const source = new WatchedSource('huge.vhdx', buf);
    await expectDiskError(openImage(source), 'LIMIT_EXCEEDED');
    expect(source.largestRead).toBeLessThanOrEqual(65536);
  });

  it('an unknown region: skipped when optional, UNSUPPORTED_FEATURE when required', async () => {
    const buf = load('odd-1m.vhdx');
    const count = buf.readUInt32LE(RT1 + 8);
    const at = RT1 + 16 + count * 32;
    Buffer.from(parseGuid('11111111-2222-3333-4444-555555555555')).copy(buf, at);
    buf.writeBigUInt64LE(BigInt(6 * MiB), at + 16);
    buf.writeUInt32LE(MiB, at + 24);
    buf.writeUInt32LE(count + 1, RT1 + 8);
    fixRegionTableCrc(buf, RT1);
    const image = await openBytes(buf);
    await image.close();
    buf.writeUInt32LE(1, at + 28);
    fixRegionTableCrc(buf, RT1);
    await expectDiskError(openBytes(buf), 'UNSUPPORTED_FEATURE');
  });

  it('a missing metadata region -> BAD_HEADER', async () => {
    const buf = load('odd-1m.vhdx');
    buf.fill(0x77, regionEntryAt(buf, METADATA_GUID), regionEntryAt(buf, METADATA_GUID) + 16);
    fixRegionTableCrc(buf, RT1);
    await expectDiskError(openBytes(buf), 'BAD_HEADER');
  });
});

describe('vhdx metadata', () => {
  it('a damaged metadata signature -> BAD_MAGIC', async () => {
    const buf = load('odd-1m.vhdx');
    buf.write('METADATA', regionOffset(buf, METADATA_GUID), 'latin1');
    await expectDiskError(openBytes(buf), 'BAD_MAGIC');
  });

  it('BlockSize 3 MiB -> BAD_HEADER', async () => {
    const buf = load('odd-1m.vhdx');
    const at = itemAt(buf, MetadataGuid.fileParameters);
    buf.writeUInt32LE(3 * MiB, at);
    const error = await expectDiskError(openBytes(buf), 'BAD_HEADER');
    expect(error.field).toBe('file_parameters.block_size');
    expect(error.offset).toBe(at);
  });

  it('virtual size 2^62 -> LIMIT_EXCEEDED; 100 TiB -> BAD_HEADER; not a sector multiple -> BAD_HEADER', async () => {
    const buf = load('odd-1m.vhdx');
    const at = itemAt(buf, MetadataGuid.virtualDiskSize);
    buf.writeBigUInt64LE(2n ** 62n, at);
    const source = new WatchedSource('huge.vhdx', buf);
    await expectDiskError(openImage(source), 'LIMIT_EXCEEDED');
    expect(source.largestRead).toBeLessThanOrEqual(65536);
    buf.writeBigUInt64LE(BigInt(100 * TiB), at);
    await expectDiskError(openBytes(buf), 'BAD_HEADER');
    buf.writeBigUInt64LE(5244416n + 100n, at);
    await expectDiskError(openBytes(buf), 'BAD_HEADER');
  });

  it('a virtual size whose BAT would exceed the table limit -> LIMIT_EXCEEDED before reading it', async () => {
    const buf = load('odd-1m.vhdx');
    buf.writeBigUInt64LE(BigInt(60 * TiB), itemAt(buf, MetadataGuid.virtualDiskSize)); // 1 MiB blocks: 480 MiB of BAT
    const source = new WatchedSource('huge.vhdx', buf);
    const error = await expectDiskError(openImage(source), 'LIMIT_EXCEEDED');
    expect(error.field).toBe('region.bat');
    expect(source.largestRead).toBeLessThanOrEqual(65536);
  });

  it('a virtual size larger than the BAT region holds -> BAD_HEADER', async () => {
    const buf = load('odd-1m.vhdx');
    buf.writeBigUInt64LE(BigInt(200 * 1024 * MiB), itemAt(buf, MetadataGuid.virtualDiskSize)); // 1.6 MiB of BAT
    const error = await expectDiskError(openBytes(buf), 'BAD_HEADER');
    expect(error.field).toBe('region.bat.length');
  });

  it('sector sizes other than 512 and 4096 -> BAD_HEADER', async () => {
    for (const guid of [MetadataGuid.logicalSectorSize, MetadataGuid.physicalSectorSize]) {
      const buf = load('odd-1m.vhdx');
      buf.writeUInt32LE(1024, itemAt(buf, guid));
      await expectDiskError(openBytes(buf), 'BAD_HEADER');
    }
  });

  it('a metadata item outside the region -> OFFSET_OUT_OF_RANGE; a missing one -> BAD_HEADER', async () => {
    const buf = load('odd-1m.vhdx');
    const region = regionOffset(buf, METADATA_GUID);
    buf.writeUInt32LE(MiB - 4, region + 32 + 16); // entry 0 (file parameters): 8 bytes at 1 MiB - 4
    await expectDiskError(openBytes(buf), 'OFFSET_OUT_OF_RANGE');
    const again = load('odd-1m.vhdx');
    again.writeUInt16LE(4, regionOffset(again, METADATA_GUID) + 10);
    await expectDiskError(openBytes(again), 'BAD_HEADER');
  });

  it('an unknown required metadata item -> UNSUPPORTED_FEATURE; an optional one is ignored', async () => {
    const buf = load('odd-1m.vhdx');
    addMetadataItem(buf, '99999999-8888-7777-6666-555555555555', 0x20000, Buffer.from('hello'), 0);
    const image = await openBytes(buf);
    await image.close();
    const region = regionOffset(buf, METADATA_GUID);
    buf.writeUInt32LE(4, region + 32 + 5 * 32 + 24);
    await expectDiskError(openBytes(buf), 'UNSUPPORTED_FEATURE');
  });

  it('4096-byte logical sectors: the chunk ratio follows (patched mixed.vhdx reads the same)', async () => {
    const buf = load('mixed.vhdx');
    const expected = await hashOf(buf);
    buf.writeUInt32LE(4096, itemAt(buf, MetadataGuid.logicalSectorSize));
    buf.writeUInt32LE(4096, itemAt(buf, MetadataGuid.physicalSectorSize));
    const image = await openBytes(buf);
    expect(image.details).toMatchObject({ logicalSectorSize: 4096, physicalSectorSize: 4096, chunkRatio: 4096 });
    expect(await guestHash(image)).toBe(expected);
    await image.close();
    // odd.vhdx's 5 MiB + 1536 bytes is no multiple of 4096.
    const odd = load('odd-1m.vhdx');
    odd.writeUInt32LE(4096, itemAt(odd, MetadataGuid.logicalSectorSize));
    await expectDiskError(openBytes(odd), 'BAD_HEADER');
  });
});

describe('vhdx BAT', () => {
  it('entry state 5 -> BAD_HEADER; PARTIALLY_PRESENT without a parent -> BAD_HEADER', async () => {
    for (const state of [5n, 7n, 4n]) {
      const buf = load('odd-1m.vhdx');
      const at = batAt(buf, 2);
      buf.writeBigUInt64LE((buf.readBigUInt64LE(at) & ~7n) | state, at);
      const error = await expectDiskError(openBytes(buf), 'BAD_HEADER');
      expect(error.offset).toBe(at);
      expect(error.field).toBe('bat[2]');
    }
  });

  it('an entry pointing past the end -> OFFSET_OUT_OF_RANGE; into the header section -> CORRUPT_DATA', async () => {
    const buf = load('odd-1m.vhdx');
    buf.writeBigUInt64LE((4096n << 20n) | 6n, batAt(buf, 3));
    await expectDiskError(openBytes(buf), 'OFFSET_OUT_OF_RANGE');
    buf.writeBigUInt64LE(((2n ** 44n - 1n) << 20n) | 6n, batAt(buf, 3));
    await expectDiskError(openBytes(buf), 'OFFSET_OUT_OF_RANGE');
    buf.writeBigUInt64LE(6n, batAt(buf, 3));
    await expectDiskError(openBytes(buf), 'CORRUPT_DATA');
  });

  it('a truncated file: inside the header section -> TRUNCATED; payload cut off -> OFFSET_OUT_OF_RANGE', async () => {
    const buf = load('odd-1m.vhdx');
    await expectDiskError(openBytes(buf.subarray(0, 300 * 1024)), 'TRUNCATED');
    await expectDiskError(openBytes(buf.subarray(0, 10 * MiB)), 'OFFSET_OUT_OF_RANGE');
    // Through a pipe (size unknown) the cut shows when the data is reached.
    const piped = await openImage(pipeOf([buf.subarray(0, 10 * MiB)]), { format: 'vhdx' });
    await expectDiskError(guestHash(piped), 'TRUNCATED');
    await piped.close();
  });

  it('UNDEFINED and UNMAPPED read as zeros, ZERO as a zero run, and count as unallocated', async () => {
    const buf = load('odd-1m.vhdx');
    for (const [index, state] of [[1, 1n], [2, 3n], [3, 2n]] as const) buf.writeBigUInt64LE(state, batAt(buf, index));
    const image = await openBytes(buf);
    expect(image.allocatedSize).toBe(5244416 - 3 * MiB);
    const seen: [number, number, boolean][] = [];
    for await (const extent of image.extents()) seen.push([extent.offset, extent.length, extent.zero === true]);
    expect(seen).toEqual([
      [0, MiB, false],
      [3 * MiB, MiB, true],
      [4 * MiB, 5244416 - 4 * MiB, false],
    ]);
    expect((await image.read(MiB, 3 * MiB)).every((byte) => byte === 0)).toBe(true);
    await image.close();
  });
});

describe('vhdx differencing', () => {
  it('HasParent -> PARENT_REQUIRED naming the parent from the locator', async () => {
    const buf = load('odd-1m.vhdx');
    const params = itemAt(buf, MetadataGuid.fileParameters);
    buf.writeUInt32LE(buf.readUInt32LE(params + 4) | 2, params + 4);
    const bare = await expectDiskError(openBytes(buf), 'PARENT_REQUIRED');
    expect(bare.message).toContain('no readable parent locator');
    expect(bare.offset).toBe(params);
    addMetadataItem(
      buf,
      MetadataGuid.parentLocator,
      0x20000,
      parentLocator({
        parent_linkage: '{83A7D5F0-1C4E-4B7D-9A41-2F6E0D1C3B5A}',
        relative_path: '.\\base.vhdx',
        absolute_win32_path: 'C:\\VMs\\base.vhdx',
      }),
      0x6,
    );
    const error = await expectDiskError(openBytes(buf), 'PARENT_REQUIRED');
    expect(error.message).toContain('relative_path ".\\\\base.vhdx"');
    expect(error.message).toContain('absolute_win32_path "C:\\\\VMs\\\\base.vhdx"');
  });

  it('a malformed parent locator still gives PARENT_REQUIRED', async () => {
    const buf = load('odd-1m.vhdx');
    const params = itemAt(buf, MetadataGuid.fileParameters);
    buf.writeUInt32LE(3, params + 4);
    const locator = Buffer.from(parentLocator({ relative_path: 'x.vhdx' }));
    locator.writeUInt32LE(0xfffffff0, ParentLocatorHeader.size); // key offset far outside
    addMetadataItem(buf, MetadataGuid.parentLocator, 0x20000, locator, 0x6);
    const error = await expectDiskError(openBytes(buf), 'PARENT_REQUIRED');
    expect(error.message).toContain('no readable parent locator');
  });
});

describe('vhdx forward-only reading', () => {
  it('a VHDX through a ForwardSource gives the same bytes as random access', async () => {
    const path = fixture('mixed.vhdx');
    const file = await openImage(path);
    const expected = await guestHash(file);
    await file.close();
    const piped = await openImage(new ForwardSource('pipe', createReadStream(path, { highWaterMark: 256 * 1024 })), {
      format: 'vhdx',
    });
    expect(piped.randomAccess).toBe(false);
    expect(await guestHash(piped)).toBe(expected);
    await piped.close();
  });

  it('metadata before the BAT works from a pipe and from memory', async () => {
    const buf = load('odd-1m.vhdx');
    const expected = await hashOf(buf);
    const bat = regionOffset(buf, BAT_GUID);
    const meta = regionOffset(buf, METADATA_GUID);
    const batBytes = Buffer.from(buf.subarray(bat, bat + MiB));
    buf.copy(buf, bat, meta, meta + MiB);
    batBytes.copy(buf, meta);
    for (const table of [RT1, RT2]) {
      buf.writeBigUInt64LE(BigInt(meta), regionEntryAt(buf, BAT_GUID, table) + 16);
      buf.writeBigUInt64LE(BigInt(bat), regionEntryAt(buf, METADATA_GUID, table) + 16);
      fixRegionTableCrc(buf, table);
    }
    expect(await hashOf(buf)).toBe(expected);
    const chunks = Array.from({ length: Math.ceil(buf.length / 65536) }, (_, i) => buf.subarray(i * 65536, (i + 1) * 65536));
    const piped = await openImage(pipeOf(chunks), { format: 'vhdx' });
    expect(await guestHash(piped)).toBe(expected);
    await piped.close();
  });

  it('payload out of guest order -> BACKWARD_READ from a pipe, still readable from a file', async () => {
    const buf = load('odd-1m.vhdx');
    const first = buf.readBigUInt64LE(batAt(buf, 0));
    buf.writeBigUInt64LE(buf.readBigUInt64LE(batAt(buf, 5)), batAt(buf, 0));
    buf.writeBigUInt64LE(first, batAt(buf, 5));
    const image = await openBytes(buf);
    await guestHash(image);
    await image.close();
    const piped = await openImage(pipeOf([buf]), { format: 'vhdx' });
    await expectDiskError(guestHash(piped), 'BACKWARD_READ');
    await piped.close();
  });
});

/**
 * A 6 MiB VHDX cut down from odd-1m.vhdx (log, BAT and metadata as qemu placed them, then two payload blocks
 * moved up to 4 MiB and 5 MiB, virtual size 2 MiB - 512): small enough for thousands of damaged copies.
 */
function compactVhdx(): Buffer {
  const src = load('odd-1m.vhdx');
  const out = Buffer.alloc(6 * MiB);
  src.copy(out, 0, 0, 4 * MiB);
  for (let block = 0; block < 6; block++) {
    const at = batAt(out, block);
    if (block < 2) {
      const from = Number(src.readBigUInt64LE(at) >> 20n) * MiB;
      src.copy(out, (4 + block) * MiB, from, from + MiB);
      out.writeBigUInt64LE((BigInt(4 + block) << 20n) | 6n, at);
    } else out.writeBigUInt64LE(0n, at);
  }
  out.writeBigUInt64LE(BigInt(2 * MiB - 512), itemAt(out, MetadataGuid.virtualDiskSize));
  return out;
}

describe('vhdx mutations', () => {
  let dir: string;
  let path: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'diskport-vhdx-mut-'));
    path = join(dir, 'compact.vhdx');
    writeFileSync(path, compactVhdx());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the compact copy reads like qemu-img reads it', async () => {
    const image = await openImage(path);
    expect(image.allocatedSize).toBe(2 * MiB - 512);
    expect(await guestHash(image)).toBe(qemuRawHash(path, 'vhdx'));
    await image.close();
  });

  it('2000 damaged copies of header, region table, metadata and BAT bytes end in a result or a DiskError', async () => {
    const buf = readFileSync(path);
    const meta = regionOffset(buf, METADATA_GUID);
    const bat = regionOffset(buf, BAT_GUID);
    const regions: [number, number][] = [
      [8, 16],
      [H1, H1 + 0x50],
      [H2, H2 + 0x50],
      [RT1, RT1 + 0x50],
      [RT2, RT2 + 0x50],
      [meta, meta + 32 + 5 * 32],
      [meta + 65536, meta + 65536 + 40],
      [bat, bat + 6 * 8],
    ];
    const outcomes = await runMutations({ path, regions, count: 2000, seed: 0x5648_0001 });
    expect(Object.values(outcomes).reduce((a, b) => a + b, 0)).toBe(2000);
    expect(outcomes.ok).toBeGreaterThan(100);
    for (const code of ['BAD_HEADER', 'UNSUPPORTED_FEATURE', 'OFFSET_OUT_OF_RANGE']) expect(outcomes[code]).toBeGreaterThan(0);
  });
});

describe('vhdx 2 TiB sparse', () => {
  let dir: string;
  let path: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'diskport-vhdx-'));
    path = join(dir, 'big.vhdx');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vhdx', path, '2T']);
    execFileSync('qemu-io', ['-f', 'vhdx', '-c', 'write -P 0xab 1T 64k', path], { stdio: 'ignore' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('inspect reads under 1 MiB and reports the exact size; the data reads back', async () => {
    const report = await inspectDisk(path);
    expect(report.virtualSize).toBe(2 * TiB);
    expect(report.details.blockSize).toBe(32 * MiB); // qemu picks 32 MiB blocks for 2 TiB: 528 KiB of BAT entries
    expect(report.allocatedSize).toBe(32 * MiB);
    expect(report.bytesRead).toBeLessThan(MiB);
    const image = await openImage(path);
    try {
      const data = await image.read(TiB, 65536);
      expect(data.every((byte) => byte === 0xab)).toBe(true);
      expect((await image.read(TiB + 65536, 4096)).every((byte) => byte === 0)).toBe(true);
      const started = performance.now();
      const extents: [number, number, boolean][] = [];
      for await (const extent of image.extents()) extents.push([extent.offset, extent.length, extent.zero === true]);
      expect(performance.now() - started).toBeLessThan(1000);
      expect(extents[0]).toEqual([0, TiB, true]);
      expect(extents.at(-1)).toEqual([TiB + 32 * MiB, TiB - 32 * MiB, true]);
      expect(extents.filter((extent) => !extent[2]).length).toBe(8);
    } finally {
      await image.close();
    }
  });

  it('4096-byte logical sectors move the sector bitmap entries (chunk ratio 1024)', async () => {
    // Patch the 2 TiB file: 4096-byte sectors make the chunk ratio 1024, so payload block 32768 (1 TiB) moves
    // from BAT index 32768 + 256 to 32768 + 32.
    const buf = Buffer.alloc(8 * MiB);
    const fd = openSync(path, 'r+');
    try {
      readSync(fd, buf, 0, buf.length, 0);
      const lss = itemAt(buf, MetadataGuid.logicalSectorSize);
      const bat = regionOffset(buf, BAT_GUID);
      const oldAt = bat + (32768 + 256) * 8;
      const newAt = bat + (32768 + 32) * 8;
      const entry = buf.readBigUInt64LE(oldAt);
      expect(entry & 7n).toBe(6n);
      const patch = (at: number, bytes: Buffer) => writeSync(fd, bytes, 0, bytes.length, at);
      const u32 = (value: number) => Buffer.from(Uint32Array.of(value).buffer);
      const u64 = (value: bigint) => Buffer.from(BigUint64Array.of(value).buffer);
      patch(lss, u32(4096));
      patch(oldAt, u64(2n));
      patch(newAt, u64(entry));
    } finally {
      closeSync(fd);
    }
    const image = await openImage(path);
    try {
      expect(image.details).toMatchObject({ logicalSectorSize: 4096, chunkRatio: 1024 });
      expect((await image.read(TiB, 65536)).every((byte) => byte === 0xab)).toBe(true);
      expect(image.allocatedSize).toBe(32 * MiB);
    } finally {
      await image.close();
    }
  });
});

it('a file forced to vhdx without the signature -> BAD_MAGIC', async () => {
  const buf = load('odd-1m.vhdx');
  buf.write('notvhdx!', 0, 'latin1');
  const error = await expectDiskError(openImage(new MemorySource('x', buf), { format: 'vhdx' }), 'BAD_MAGIC');
  expect(error.field).toBe('file_identifier.signature');
  expect(Limits.forwardHeadKeep).toBeGreaterThanOrEqual(RT2 + 65536); // headers and tables stay re-readable
});
