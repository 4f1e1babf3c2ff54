/**
 * VMDK (formats.md section 1): a hosted sparse extent with its embedded descriptor (monolithicSparse,
 * streamOptimized), or a text descriptor naming extent files (monolithicFlat, twoGbMaxExtent*, vmfs, hand-made
 * multi-extent disks). Child disks (a parent CID) are refused; ESX COWD/SESPARSE extents are unsupported.
 */
import { DiskError, type ErrorCode } from '../../errors.js';
import { createMappedImage } from '../../image/create.js';
import type { Span } from '../../image/spans.js';
import type { DiskFormat, DiskImage } from '../../image/types.js';
import { Limits } from '../../limits.js';
import { readChecked } from '../../source/check.js';
import { ForwardSource } from '../../source/forward.js';
import type { ByteSource } from '../../source/types.js';
import {
  NO_PARENT_CID,
  descriptorText,
  isBlank,
  looksLikeDescriptor,
  parseDescriptor,
  type Descriptor,
  type ExtentLine,
} from './descriptor.js';
import { SparseExtent, equal, readSparseHeader, type SparseHeader } from './sparse.js';
import { streamExtents } from './stream.js';
import { COWD_MAGIC, SECTOR, SPARSE_MAGIC } from './structs.js';

/** Second-level tables read at open for allocatedSize only when all of them together stay under this. */
const ALLOCATION_TABLE_BUDGET = 4 * 1024 * 1024;
const DETAIL_EXTENTS = 8;

export const vmdk: DiskFormat = {
  name: 'vmdk',
  detect(probe) {
    const { head } = probe;
    if (head.length >= 4 && (equal(head.subarray(0, 4), SPARSE_MAGIC) || equal(head.subarray(0, 4), COWD_MAGIC))) return true;
    return looksLikeDescriptor(head);
  },
  async open(source) {
    const head = await readStart(source, 2048);
    const magic = head.subarray(0, 4);
    if (equal(magic, SPARSE_MAGIC)) return openSparseFile(source);
    if (equal(magic, COWD_MAGIC)) {
      throw new DiskError('UNSUPPORTED_FEATURE', 'ESX vmfsSparse (COWD) extents are not supported; convert the disk on ESXi first', {
        file: source.name,
        format: 'vmdk',
        offset: 0,
        field: 'header.magic',
      });
    }
    if (looksLikeDescriptor(head)) return openDescriptorFile(source);
    throw new DiskError('BAD_MAGIC', 'neither a VMDK sparse extent (KDMV) nor a text descriptor', {
      file: source.name,
      format: 'vmdk',
      offset: 0,
      field: 'header.magic',
    });
  },
};

/** Up to `length` bytes from the start (fewer when the input is shorter). */
async function readStart(source: ByteSource, length: number): Promise<Uint8Array> {
  if (source.size !== undefined) return source.read(0, Math.min(length, source.size));
  if (source instanceof ForwardSource) return source.readSome(0, length);
  return source.read(0, length);
}

// ---------------------------------------------------------------------------------------------------------------
// A single sparse file: monolithicSparse or streamOptimized.

async function openSparseFile(source: ByteSource): Promise<DiskImage> {
  const header = await readSparseHeader(source);
  const descriptor = await readEmbeddedDescriptor(source, header);
  if (descriptor !== undefined && header.capacity === 0 && descriptor.extents.length > 0) {
    // A sparse header of capacity 0 that only carries a descriptor naming other extents (qemu reads it so too).
    return openDescriptor(source, descriptor, header.descriptorOffset * SECTOR);
  }
  if (descriptor !== undefined) refuseChild(descriptor, source, header.descriptorOffset * SECTOR);

  const extent = new SparseExtent(source, header, { index: 0, guestStart: 0 });
  const streamed = header.compressed && header.markers;
  // A pipe streams a streamOptimized disk by its markers alone; everything else needs the grain directory.
  if (source.seekable || !streamed) await extent.loadDirectory();
  const allocatedSize = source.seekable || !streamed ? await allocationOf([extent], source) : undefined;
  const virtualSize = header.capacity * SECTOR;
  const derivedType = streamed ? 'streamOptimized' : 'monolithicSparse';
  const lines: ExtentLine[] = descriptor?.extents.length
    ? [...descriptor.extents]
    : [{ access: 'RW', sectors: header.capacity, type: 'SPARSE', file: source.name, offset: 0, line: 0 }];
  return createMappedImage({
    format: 'vmdk',
    subformat: descriptor?.createType ?? derivedType,
    virtualSize,
    allocatedSize,
    details: details(descriptor, lines, header, header.compressed, descriptor === undefined ? 'absent' : 'embedded'),
    source,
    map: (offset, wanted) => extent.map(offset, wanted),
    ...(streamed ? { extents: () => streamExtents(extent, virtualSize) } : {}),
  });
}

/** The embedded descriptor, or undefined when the header reserves none or the area is blank (qemu's slices). */
async function readEmbeddedDescriptor(source: ByteSource, header: SparseHeader): Promise<Descriptor | undefined> {
  if (header.descriptorOffset === 0 || header.descriptorSize === 0) return undefined;
  const offset = header.descriptorOffset * SECTOR;
  const bytes = await readChecked(source, offset, header.descriptorSize * SECTOR, {
    format: 'vmdk',
    field: 'header.descriptorOffset',
    max: Limits.maxDescriptorBytes,
  });
  if (isBlank(bytes)) return undefined;
  return parseDescriptor(descriptorText(bytes), { file: source.name, offset });
}

// ---------------------------------------------------------------------------------------------------------------
// A text descriptor naming extent files.

async function openDescriptorFile(source: ByteSource): Promise<DiskImage> {
  const max = Limits.maxDescriptorBytes;
  const tooLarge = () =>
    new DiskError('LIMIT_EXCEEDED', `a text descriptor larger than ${max} bytes`, { file: source.name, format: 'vmdk', offset: 0, field: 'descriptor' });
  let bytes: Uint8Array;
  if (source.size !== undefined) {
    if (source.size > max) throw tooLarge();
    bytes = await source.read(0, source.size);
  } else {
    bytes = await readStart(source, max + 1);
    if (bytes.length > max) throw tooLarge();
  }
  const descriptor = parseDescriptor(descriptorText(bytes), { file: source.name, offset: 0 });
  return openDescriptor(source, descriptor, 0);
}

type Piece =
  | { kind: 'empty'; start: number; bytes: number; line: ExtentLine; declaredZero: boolean }
  | { kind: 'flat'; start: number; bytes: number; line: ExtentLine; source: ByteSource; hostOffset: number }
  | { kind: 'sparse'; start: number; bytes: number; line: ExtentLine; extent: SparseExtent };

async function openDescriptor(
  source: ByteSource,
  descriptor: Descriptor,
  descriptorOffset: number,
): Promise<DiskImage> {
  const where = { file: source.name, format: 'vmdk', offset: descriptorOffset };
  const bad = (code: ErrorCode, message: string, line?: ExtentLine): never => {
    throw new DiskError(code, message, { ...where, field: line === undefined ? 'descriptor' : `descriptor line ${line.line}` });
  };
  refuseChild(descriptor, source, descriptorOffset);
  if (descriptor.createType === undefined || descriptor.createType === '') bad('BAD_DESCRIPTOR', 'the descriptor has no createType');
  if (descriptor.extents.length === 0) bad('BAD_DESCRIPTOR', 'the descriptor names no extents');

  // Judge every line before opening any file, so an unsupported type is reported as such whatever the folder holds.
  let total = 0;
  for (const line of descriptor.extents) {
    if (!['FLAT', 'VMFS', 'SPARSE', 'ZERO'].includes(line.type) && line.access !== 'NOACCESS') {
      bad('UNSUPPORTED_FEATURE', `${line.type} extents are not supported (FLAT, VMFS, SPARSE and ZERO are)`, line);
    }
    total += line.sectors * SECTOR;
    if (total > Limits.maxVirtualSize) bad('LIMIT_EXCEEDED', `the extents add up to more than ${Limits.maxVirtualSize} bytes`, line);
  }

  const opened: ByteSource[] = [];
  const closeAll = async () => {
    for (const file of opened.splice(0)) await file.close().catch(() => undefined);
  };
  const pieces: Piece[] = [];
  try {
    let start = 0;
    for (const [index, line] of descriptor.extents.entries()) {
      const bytes = line.sectors * SECTOR;
      if (line.access === 'NOACCESS' || line.type === 'ZERO') {
        // NOACCESS extents read as zeros without touching their file; ZERO extents have none.
        pieces.push({ kind: 'empty', start, bytes, line, declaredZero: line.type === 'ZERO' });
        start += bytes;
        continue;
      }
      const file = await openExtentFile(source, line, descriptorOffset);
      opened.push(file);
      if (line.type === 'SPARSE') {
        const header = await readSparseHeader(file);
        if (header.capacity !== line.sectors) {
          bad('BAD_DESCRIPTOR', `extent "${line.file}" holds ${header.capacity} sectors, the descriptor says ${line.sectors}`, line);
        }
        const extent = new SparseExtent(file, header, { index, guestStart: start });
        await extent.loadDirectory();
        pieces.push({ kind: 'sparse', start, bytes, line, extent });
      } else {
        const hostOffset = line.offset * SECTOR;
        if (file.size !== undefined && hostOffset + bytes > file.size) {
          bad('TRUNCATED', `extent "${line.file}" is ${file.size} bytes; the descriptor needs ${hostOffset + bytes}`, line);
        }
        pieces.push({ kind: 'flat', start, bytes, line, source: file, hostOffset });
      }
      start += bytes;
    }
  } catch (error) {
    await closeAll();
    throw error;
  }

  const sparse = pieces.flatMap((piece) => (piece.kind === 'sparse' ? [piece.extent] : []));
  let allocatedSize: number | undefined;
  try {
    const fromTables = await allocationOf(sparse, source);
    allocatedSize =
      fromTables === undefined
        ? undefined
        : fromTables + pieces.reduce((sum, piece) => sum + (piece.kind === 'flat' ? piece.bytes : 0), 0);
  } catch (error) {
    await closeAll();
    throw error;
  }
  const firstSparse = sparse[0]?.header;
  return createMappedImage({
    format: 'vmdk',
    subformat: descriptor.createType!,
    virtualSize: total,
    allocatedSize,
    details: details(descriptor, descriptor.extents, firstSparse, sparse.some((e) => e.header.compressed), 'file'),
    source,
    map: (offset, wanted) => mapPieces(pieces, offset, wanted),
    close: closeAll,
  });
}

/** Opens an extent file next to the descriptor; the source's sibling() applies the folder rule (and its override). */
async function openExtentFile(source: ByteSource, line: ExtentLine, descriptorOffset: number): Promise<ByteSource> {
  const where = { file: source.name, format: 'vmdk', offset: descriptorOffset, field: `descriptor line ${line.line}` };
  if (source.sibling === undefined) {
    const code = source.seekable ? 'EXTENT_MISSING' : 'NOT_SEEKABLE';
    throw new DiskError(code, `the descriptor names the extent file "${line.file}", which cannot be opened next to ${source.seekable ? 'an in-memory descriptor' : 'a pipe'}`, where);
  }
  try {
    return await source.sibling(line.file!);
  } catch (error) {
    if (error instanceof DiskError) {
      throw new DiskError(error.code, `extent "${line.file}": ${error.message}`, { ...where, file: error.file ?? source.name, cause: error });
    }
    throw error;
  }
}

/** Finds the extent holding `offset` (binary search) and asks it, clamping the span to the extent's end. */
async function mapPieces(pieces: readonly Piece[], offset: number, wanted: number): Promise<Span> {
  let low = 0;
  let high = pieces.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (pieces[middle]!.start <= offset) low = middle;
    else high = middle - 1;
  }
  const piece = pieces[low]!;
  const local = offset - piece.start;
  const left = piece.bytes - local;
  switch (piece.kind) {
    case 'empty':
      return { kind: piece.declaredZero ? 'zero' : 'unallocated', length: left };
    case 'flat':
      return { kind: 'data', length: left, source: piece.source, hostOffset: piece.hostOffset + local };
    case 'sparse': {
      const span = await piece.extent.map(local, wanted);
      return { ...span, length: Math.min(span.length, left) } as Span;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** A parent CID or a parent file name means a child (delta) disk, which reads nothing without its parent. */
function refuseChild(descriptor: Descriptor, source: ByteSource, offset: number): void {
  const parent = descriptor.parentCid !== undefined && descriptor.parentCid !== NO_PARENT_CID;
  const hint = descriptor.parentFileNameHint !== undefined && descriptor.parentFileNameHint !== '';
  if (parent || hint) {
    const named = hint ? ` (parent "${descriptor.parentFileNameHint}")` : '';
    throw new DiskError('PARENT_REQUIRED', `a child disk of a snapshot chain${named}; consolidate the snapshots first`, {
      file: source.name,
      format: 'vmdk',
      offset,
      field: parent ? 'parentCID' : 'parentFileNameHint',
    });
  }
}

/** Allocated guest bytes when the grain tables of all sparse extents fit the budget; undefined otherwise. */
async function allocationOf(extents: readonly SparseExtent[], source: ByteSource): Promise<number | undefined> {
  const budget = { bytes: ALLOCATION_TABLE_BUDGET };
  let total = 0;
  for (const extent of extents) {
    try {
      const bytes = await extent.allocatedBytes(budget);
      if (bytes === undefined) return undefined;
      total += bytes;
    } catch (error) {
      // A pipe whose tables are not in file order: say nothing about allocation; reading will explain itself.
      if (!source.seekable && error instanceof DiskError && error.code === 'BACKWARD_READ') return undefined;
      throw error;
    }
  }
  return total;
}

function details(
  descriptor: Descriptor | undefined,
  lines: readonly ExtentLine[],
  sparse: SparseHeader | undefined,
  compressed: boolean,
  where: 'embedded' | 'absent' | 'file',
): Record<string, unknown> {
  const keys = descriptor?.keys;
  const out: Record<string, unknown> = {
    createType: descriptor?.createType ?? null,
    descriptor: where,
    cid: descriptor?.cid ?? null,
    parentCid: descriptor?.parentCid ?? null,
    adapterType: keys?.get('ddb.adapterType') ?? null,
    hwVersion: keys?.get('ddb.virtualHWVersion') ?? null,
    grainSize: sparse === undefined ? null : sparse.grainSectors * SECTOR,
    compressed,
    extents: {
      count: lines.length,
      list: lines.slice(0, DETAIL_EXTENTS).map((line) => ({
        access: line.access,
        sectors: line.sectors,
        type: line.type,
        file: line.file ?? null,
      })),
    },
  };
  if (sparse !== undefined) out.sparseVersion = sparse.version;
  const geometry = ['cylinders', 'heads', 'sectors'].map((name) => Number(keys?.get(`ddb.geometry.${name}`)));
  if (geometry.every((value) => Number.isSafeInteger(value))) {
    out.geometry = { cylinders: geometry[0], heads: geometry[1], sectors: geometry[2] };
  }
  const uuid = keys?.get('ddb.uuid');
  if (uuid !== undefined) out.uuid = uuid;
  return out;
}
