/**
 * The VMDK writer beyond the fixture matrix (test/convert.test.ts): the stream layout byte by byte, sizes that do
 * not fill a grain or a sector, a 2 TiB sparse disk, worker counts, and a pipe as the input.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convert, convertToFile } from '../../src/convert/index.js';
import { encodeGrains, encodedBound } from '../../src/formats/vmdk/grain.js';
import { MarkerType, MetadataMarker, SparseExtentHeader, GD_AT_END } from '../../src/formats/vmdk/structs.js';
import { openImage } from '../../src/open.js';
import { ForwardSource } from '../../src/source/forward.js';
import { fixture, guestHash } from '../helpers.js';
import { expectQemuCheckClean, expectQemuIdentical, qemuVirtualSize } from '../writer-oracle.js';

const dir = mkdtempSync(join(tmpdir(), 'diskport-vmdk-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function convertFixture(input: string, output: string, options: Parameters<typeof convertToFile>[2]): Promise<void> {
  const image = await openImage(input);
  try {
    await convertToFile(image, output, options);
  } finally {
    await image.close();
  }
}

describe('streamOptimized layout', () => {
  const output = join(dir, 'layout.vmdk');

  it('has the GD_AT_END header, then GT markers, GD marker, footer and end-of-stream marker at the end', async () => {
    await convertFixture(fixture('mixed.raw'), output, { to: 'vmdk' });
    const bytes = readFileSync(output);
    const header = SparseExtentHeader.decode(bytes);
    expect(header.version).toBe(3);
    expect(header.gdOffset).toBe(GD_AT_END);
    expect(header.compressAlgorithm).toBe(1);
    expect(Buffer.from(bytes.subarray(512, 1024)).toString('latin1')).toContain('createType="streamOptimized"');

    const sectors = bytes.length / 512;
    expect(Number.isInteger(sectors)).toBe(true);
    expect(bytes.subarray(bytes.length - 512).every((byte) => byte === 0)).toBe(true); // EOS marker
    const footerMarker = MetadataMarker.decode(bytes, bytes.length - 1536);
    expect(footerMarker.type).toBe(MarkerType.footer);
    expect(footerMarker.numSectors).toBe(1n);
    const footer = SparseExtentHeader.decode(bytes, bytes.length - 1024);
    expect(footer.capacity).toBe(header.capacity);
    expect(footer.gdOffset).not.toBe(GD_AT_END);
    // The GD's marker sits in the sector before the GD; the GD names each table right behind its marker.
    const gdSector = Number(footer.gdOffset);
    const gdMarker = MetadataMarker.decode(bytes, (gdSector - 1) * 512);
    expect(gdMarker.type).toBe(MarkerType.grainDirectory);
    const tables = Math.ceil(Number(header.capacity) / (512 * 128));
    const gd = new DataView(bytes.buffer, bytes.byteOffset + gdSector * 512, tables * 4);
    let seen = 0;
    for (let index = 0; index < tables; index++) {
      const table = gd.getUint32(index * 4, true);
      if (table === 0) continue;
      seen++;
      const marker = MetadataMarker.decode(bytes, (table - 1) * 512);
      expect(marker.type).toBe(MarkerType.grainTable);
      expect(marker.numSectors).toBe(4n);
    }
    expect(seen).toBeGreaterThan(0);
    expectQemuCheckClean(output, 'vmdk');
    expectQemuIdentical(fixture('mixed.raw'), 'raw', output, 'vmdk');
  });

  it('writes the same bytes whatever the worker count (apart from the random CID)', async () => {
    const outputs = [1, 3].map((workers) => join(dir, `workers-${workers}.vmdk`));
    for (const [index, workers] of [1, 3].entries()) {
      await convertFixture(fixture('mixed.qcow2'), outputs[index]!, { to: 'vmdk', workers });
    }
    const [one, three] = outputs.map((path) => readFileSync(path).toString('latin1').replace(/CID=[0-9a-f]{8}/, 'CID=x'));
    expect(one!.length).toBeGreaterThan(100_000);
    expect(three).toBe(one);
  });

  it('streams: convert() yields append-only bytes that qemu-img reads as the source', async () => {
    const image = await openImage(fixture('odd.qcow2'));
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of convert(image, { to: 'vmdk' })) chunks.push(Buffer.from(chunk));
    } finally {
      await image.close();
    }
    const streamed = join(dir, 'streamed.vmdk');
    writeFileSync(streamed, Buffer.concat(chunks));
    expectQemuCheckClean(streamed, 'vmdk');
    expectQemuIdentical(fixture('odd.qcow2'), 'qcow2', streamed, 'vmdk');
  });

  it('converts from a pipe (a forward-only source)', async () => {
    const source = new ForwardSource('pipe', createReadStream(fixture('mixed-compressed.qcow2')));
    const image = await openImage(source);
    const output = join(dir, 'from-pipe.vmdk');
    try {
      await convertToFile(image, output, { to: 'vmdk' });
    } finally {
      await image.close();
    }
    expectQemuIdentical(fixture('mixed-compressed.qcow2'), 'qcow2', output, 'vmdk');
  });
});

describe('grain encoding', () => {
  it('writes the same bytes into a reused, dirty output buffer as into a fresh one, within the bound', () => {
    const grain = 64 * 1024;
    const data = new Uint8Array(16 * grain);
    data.set(randomBytes(grain), 0); // incompressible: its zlib stream is longer than the grain
    data.fill(0x41, 2 * grain, 3 * grain + 100); // text, and a grain that is partly text
    data.set(randomBytes(100), 15 * grain + 7);
    const short = data.subarray(0, 15 * grain + 300); // the last grain is short: zero-padded
    const fresh = encodeGrains(short, new Uint8Array(encodedBound(data.length, grain)), 128, grain);
    const dirty = encodeGrains(short, new Uint8Array(encodedBound(data.length, grain)).fill(0xff), 128, grain);
    expect(Buffer.compare(dirty.output.subarray(0, dirty.length), fresh.output.subarray(0, fresh.length))).toBe(0);
    expect([...fresh.sectors].filter((sectors) => sectors > 0)).toHaveLength(4); // the random, two text and the last grain
    expect(fresh.sectors[0]).toBeGreaterThan(grain / 512); // stored blocks: bigger than the grain, still inside the bound
    expect(fresh.length).toBe([...fresh.sectors].reduce((sum, sectors) => sum + sectors * 512, 0));
    expect(() => encodeGrains(data, new Uint8Array(grain), 0, grain)).toThrow(/deflates past/);
  });
});

describe('sizes', () => {
  const cases: [string, number][] = [
    ['one sector', 512],
    ['one byte past a grain', 65536 + 1],
    ['not a multiple of 512', 3 * 1024 * 1024 + 100],
    ['one byte past a grain table', 32 * 1024 * 1024 + 1],
  ];
  for (const [name, size] of cases) {
    for (const subformat of ['streamOptimized', 'monolithicSparse']) {
      it(`${name} (${size} bytes), ${subformat}: qemu-img compares identical; the size rounds up to a sector`, async () => {
        const input = join(dir, `size-${size}.raw`);
        const bytes = Buffer.alloc(size);
        for (let at = 0; at < size; at += 4096) bytes[at] = (at / 4096) % 251 + 1;
        bytes[size - 1] = 0x5a;
        writeFileSync(input, bytes);
        const output = join(dir, `size-${size}-${subformat}.vmdk`);
        await convertFixture(input, output, { to: 'vmdk', subformat });
        expectQemuCheckClean(output, 'vmdk');
        expectQemuIdentical(input, 'raw', output, 'vmdk');
        const rounded = Math.ceil(size / 512) * 512;
        expect(qemuVirtualSize(output, 'vmdk')).toBe(rounded);
        const written = await openImage(output);
        try {
          expect(written.virtualSize).toBe(rounded);
        } finally {
          await written.close();
        }
      });
    }
  }
});

describe('a 2 TiB sparse disk', () => {
  it('converts in a small file, both subformats, and reads back the data written at 1 TiB', async () => {
    const input = join(dir, 'big.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', input, '2T']);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 1T 64k', input], { stdio: 'ignore' });
    for (const subformat of ['streamOptimized', 'monolithicSparse']) {
      const output = join(dir, `big-${subformat}.vmdk`);
      await convertFixture(input, output, { to: 'vmdk', subformat });
      expect(statSync(output).size).toBeLessThan(2 * 1024 * 1024);
      const written = await openImage(output);
      try {
        expect(written.virtualSize).toBe(2 * 2 ** 40);
        expect((await written.read(2 ** 40, 65536)).every((byte) => byte === 0xab)).toBe(true);
        expect((await written.read(2 ** 40 + 65536, 512)).every((byte) => byte === 0)).toBe(true);
      } finally {
        await written.close();
      }
      const check = spawnSync('qemu-img', ['check', output], { encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
    }
  });

  it('refuses a disk larger than a VMDK can hold, naming the size', async () => {
    const input = join(dir, 'huge.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', input, '63T']);
    const image = await openImage(input);
    try {
      const error = await convertToFile(image, join(dir, 'huge.vmdk'), { to: 'vmdk' }).catch((e: unknown) => e);
      expect((error as { code: string }).code).toBe('LIMIT_EXCEEDED');
      expect(String((error as Error).message)).toContain('62 TiB');
    } finally {
      await image.close();
    }
  });
});

describe('content fingerprint', () => {
  it('is the same for a source and every conversion of it', async () => {
    const { contentHash } = await import('../../src/convert/content-hash.js');
    const hashes = new Set<string>();
    for (const file of ['mixed.raw', 'mixed.qcow2', 'mixed.vhdx', 'mixed-dynamic.vhd', 'mixed.vmdk']) {
      const image = await openImage(fixture(file));
      try {
        hashes.add(await contentHash(image));
        expect(await guestHash(image)).toMatch(/^[0-9a-f]{64}$/);
      } finally {
        await image.close();
      }
    }
    expect(hashes.size).toBe(1);
    const other = await openImage(fixture('odd.raw'));
    try {
      expect(hashes.has(await contentHash(other))).toBe(false);
    } finally {
      await other.close();
    }
  });
});
