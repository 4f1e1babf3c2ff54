/**
 * OVA output: a tar (written with tar-stream) holding the OVF descriptor first, then each disk as a
 * streamOptimized VMDK, then a SHA256 manifest of both. The manifest comes last, not second as OVF 1.x suggests:
 * its digests are only known once the disks have been written, and a second place would need a second pass.
 *
 * A tar header states its entry's size before the bytes, and a streamOptimized disk's size is only known once it is
 * compressed. Rather than spool the disks to a temporary file, each disk is compressed twice: a first pass counts its
 * bytes (the writer is deterministic: the same layout, CID and zlib settings give the same bytes), the second writes
 * them. The output stays append-only (a pipe or an upload can take it) and memory stays flat; the price is the deflate
 * work twice, and a disk that can be read twice (a file, not a pipe).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Pack } from 'tar-stream';
import { bytesOf } from '../../convert/sink.js';
import { DiskError } from '../../errors.js';
import type { DiskImage } from '../../image/types.js';
import { knownSize, type DiskWriter, type OutputPiece } from '../../image/writer.js';
import { sparseLayout, type SparseLayout } from '../vmdk/layout.js';
import { writeStreamOptimized } from '../vmdk/write-stream.js';
import type { OvfSpec } from './ovf-write.js';

export interface OvaWriteOptions {
  /** The virtual machine's name; the entries are NAME.ovf, NAME-disk1.vmdk..., NAME.mf. */
  name: string;
  /** Threads for deflate. */
  workers: number;
  /** Firmware for the OVF; default: 'efi' when the first (boot) disk boots only by UEFI, else BIOS. */
  firmware?: 'bios' | 'efi';
  osId?: OvfSpec['osId'];
  osDescription?: string;
}

/** A single-disk OVA, as a DiskWriter for `convert --to ova`. */
export const ovaWriter: DiskWriter = {
  format: 'ova',
  subformats: ['streamOptimized'],
  streamable: () => true,
  write: (image, options) => writeOva([image], { name: options.name ?? 'disk', workers: options.workers }),
};

/** The OVA's bytes for a virtual machine whose disks are `disks` (boot disk first). */
export async function* writeOva(disks: readonly DiskImage[], options: OvaWriteOptions): AsyncGenerator<OutputPiece> {
  if (disks.length === 0) throw new DiskError('USAGE', 'an OVA needs at least one disk');
  const name = entryBaseName(options.name);
  const planned = disks.map((image, index) => planDisk(image, `${name}-disk${index + 1}.vmdk`));
  const firmware = options.firmware ?? (await firmwareOf(disks[0]!));
  for (const disk of planned) disk.size = await countBytes(writeStreamOptimized(disk.image, disk.layout, options.workers));
  // Loaded here, not at the top: every convert loads the writer list, few write an OVA.
  const [{ default: tar }, { buildOvf }] = await Promise.all([import('tar-stream'), import('./ovf-write.js')]);
  const ovf = Buffer.from(
    buildOvf({
      name,
      disks: planned.map((disk) => ({ href: disk.href, capacity: disk.image.virtualSize! })),
      firmware,
      osId: options.osId,
      osDescription: options.osDescription,
    }),
    'utf8',
  );

  const pack = tar.pack();
  const mtime = new Date();
  const digests: [string, string][] = [];
  const writeEntries = async () => {
    digests.push([`${name}.ovf`, await addEntry(pack, { name: `${name}.ovf`, size: ovf.length, mtime }, [ovf])]);
    for (const disk of planned) {
      const bytes = bytesOf(writeStreamOptimized(disk.image, disk.layout, options.workers));
      digests.push([disk.href, await addEntry(pack, { name: disk.href, size: disk.size, mtime }, bytes)]);
    }
    const manifest = Buffer.from(digests.map(([file, digest]) => `SHA256(${file})= ${digest}\n`).join(''), 'utf8');
    await addEntry(pack, { name: `${name}.mf`, size: manifest.length, mtime }, [manifest]);
    pack.finalize();
  };
  const writing = writeEntries().catch((error: unknown) => {
    pack.destroy(error as Error); // ends the loop below with the same error
    throw error;
  });
  writing.catch(() => undefined); // awaited below; this only keeps it from counting as unhandled meanwhile
  try {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) yield { kind: 'data', data: chunk };
    await writing;
  } finally {
    pack.destroy(); // a consumer that stopped early: stop the entries too
  }
}

interface PlannedDisk {
  readonly image: DiskImage;
  readonly href: string;
  /** Shared by both passes, so both write the same bytes (the descriptor's random CID included). */
  readonly layout: SparseLayout;
  size: number;
}

function planDisk(image: DiskImage, href: string): PlannedDisk {
  if (!image.randomAccess) {
    throw new DiskError('NOT_SEEKABLE', 'an OVA needs each disk read twice (its tar header states the compressed size first): convert from a file, not a pipe', {
      file: image.source.name,
    });
  }
  return { image, href, layout: sparseLayout(knownSize(image, 'vmdk'), 'streamOptimized'), size: 0 };
}

/** EFI when the boot disk has an ESP and no BIOS boot path; BIOS otherwise (also for hybrid disks, which boot both). */
async function firmwareOf(boot: DiskImage): Promise<'bios' | 'efi'> {
  const { readPartitionTable } = await import('../../partitions/index.js');
  const table = await readPartitionTable(boot);
  return table.bootMode === 'uefi' ? 'efi' : 'bios';
}

async function countBytes(pieces: AsyncIterable<OutputPiece>): Promise<number> {
  let total = 0;
  for await (const piece of pieces) {
    if (piece.kind === 'patch') throw new DiskError('INTERNAL', 'a streamOptimized writer yielded a patch');
    total += piece.kind === 'data' ? piece.data.length : piece.length;
  }
  return total;
}

/** Adds one file entry, honouring the pack's backpressure; returns the SHA-256 of its bytes. */
async function addEntry(pack: Pack, header: { name: string; size: number; mtime: Date }, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  let entry!: ReturnType<Pack['entry']>;
  // Settles once the entry's bytes and padding are in the pack (with an error on a size mismatch).
  const finished = new Promise<void>((resolve, reject) => {
    entry = pack.entry({ ...header, type: 'file', mode: 0o644 }, (error) => (error ? reject(error) : resolve()));
  });
  for await (const chunk of chunks) {
    hash.update(chunk);
    if (!entry.write(chunk)) await once(entry, 'drain');
  }
  entry.end(() => undefined);
  await finished;
  return hash.digest('hex');
}

/** The VM name as a safe tar member base name: no folders, no control characters, not empty. */
function entryBaseName(name: string): string {
  const safe = name.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, '_').replace(/^\.+/, '').slice(0, 80);
  return safe === '' ? 'disk' : safe;
}
