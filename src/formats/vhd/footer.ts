/**
 * The VHD footer: finding it (end of file, or the copy at offset 0), checking it, and the virtual size rule.
 */
import { DiskError } from '../../errors.js';
import { Limits } from '../../limits.js';
import type { ByteSource } from '../../source/types.js';
import type { Decoded } from '../../struct/index.js';
import { DiskType, FILE_FORMAT_VERSION, FOOTER, FOOTER_COOKIE, MAX_GEOMETRY, SECTOR } from './structs.js';

export type Footer = Decoded<typeof FOOTER['fields']>;

export interface LocatedFooter {
  footer: Footer;
  /** File offset of the footer. */
  offset: number;
  where: 'head' | 'tail' | 'tail-511';
}

const COOKIE = Buffer.from(FOOTER_COOKIE, 'latin1');

export function hasCookie(bytes: Uint8Array | undefined, at = 0): boolean {
  if (bytes === undefined || bytes.length < at + COOKIE.length) return false;
  return COOKIE.equals(bytes.subarray(at, at + COOKIE.length));
}

/**
 * The spec's checksum: one's complement of the byte sum, with the checksum field itself counted as zero.
 * Shared by the footer and the dynamic header.
 */
export function vhdChecksum(bytes: Uint8Array, checksumAt: number): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (i < checksumAt || i >= checksumAt + 4) sum += bytes[i]!;
  }
  return ~sum >>> 0;
}

/**
 * Checks a footer's cookie, checksum and version, in that order. The checksum comes before the version because the
 * algorithm does not depend on it, and a damaged version field is corruption, not a newer format.
 * `bytes` is 512 bytes (a 511-byte legacy footer is padded with a zero byte, which leaves the sum unchanged).
 */
export function parseFooter(bytes: Uint8Array, offset: number, file: string): Footer {
  const where = (field: string) => ({ file, format: 'vhd', offset, field: `footer.${field}` });
  if (!hasCookie(bytes)) throw new DiskError('BAD_MAGIC', 'no "conectix" footer cookie', where('cookie'));
  const footer = FOOTER.decode(bytes);
  const expected = vhdChecksum(bytes, FOOTER.offsetOf('checksum'));
  if (footer.checksum !== expected) {
    throw new DiskError(
      'BAD_CHECKSUM',
      `footer checksum is 0x${hex(footer.checksum)}, the bytes sum to 0x${hex(expected)}`,
      where('checksum'),
    );
  }
  if (footer.fileFormatVersion !== FILE_FORMAT_VERSION) {
    throw new DiskError(
      'UNSUPPORTED_VERSION',
      `file format version 0x${hex(footer.fileFormatVersion)} (only 0x00010000 is defined)`,
      where('fileFormatVersion'),
    );
  }
  return footer;
}

export interface FooterChoice {
  chosen: LocatedFooter;
  /** Facts about the other copy worth showing: why it was not used, or how it disagrees. */
  notes: Record<string, string>;
}

/**
 * Picks the footer to trust. The footer at the end of the file is the authoritative one; the spec keeps the copy at
 * offset 0 (dynamic and differencing disks) for recovery when the end is damaged, so that copy is used only then.
 * A forward-only source never reaches its end before the data, so it uses the copy at 0 (fixed disks have none).
 */
export async function chooseFooter(source: ByteSource): Promise<FooterChoice> {
  const { size, name } = source;
  const notes: Record<string, string> = {};
  if (size !== undefined && size < SECTOR - 1) {
    throw new DiskError('TRUNCATED', `a VHD needs at least a 511-byte footer; the file is ${size} bytes`, {
      file: name, format: 'vhd', offset: 0, field: 'footer',
    });
  }
  const headBytes = size === undefined || size >= SECTOR ? await source.read(0, SECTOR) : undefined;
  const headHasCookie = hasCookie(headBytes);

  let tail: LocatedFooter | undefined;
  let tailError: DiskError | undefined;
  if (source.seekable && size !== undefined) {
    // One read of the last sector covers both the 512-byte footer and the legacy 511-byte one.
    const tailLength = Math.min(size, SECTOR);
    const tailBytes = await source.read(size - tailLength, tailLength);
    let candidate: { bytes: Uint8Array; offset: number; where: LocatedFooter['where'] } | undefined;
    if (tailLength === SECTOR && hasCookie(tailBytes)) {
      candidate = { bytes: tailBytes, offset: size - SECTOR, where: 'tail' };
    } else if (hasCookie(tailBytes, tailLength - (SECTOR - 1))) {
      // Products before Virtual PC 2004 wrote a 511-byte footer: its cookie sits at size - 511.
      const padded = new Uint8Array(SECTOR);
      padded.set(tailBytes.subarray(tailLength - (SECTOR - 1)));
      candidate = { bytes: padded, offset: size - (SECTOR - 1), where: 'tail-511' };
    }
    if (candidate !== undefined) {
      try {
        tail = { footer: parseFooter(candidate.bytes, candidate.offset, name), offset: candidate.offset, where: candidate.where };
      } catch (error) {
        if (!(error instanceof DiskError)) throw error;
        tailError = error;
      }
    } else {
      notes.tailFooter = 'missing';
    }
  }

  let head: LocatedFooter | undefined;
  let headError: DiskError | undefined;
  if (headHasCookie) {
    try {
      head = { footer: parseFooter(headBytes!, 0, name), offset: 0, where: 'head' };
    } catch (error) {
      if (!(error instanceof DiskError)) throw error;
      headError = error;
    }
  }

  if (tail !== undefined) {
    if (headError !== undefined) notes.headCopy = `invalid (${headError.code}: ${headError.message})`;
    if (head !== undefined && tail.footer.diskType !== DiskType.fixed) {
      const mismatch = disagreement(head.footer, tail.footer);
      if (mismatch !== undefined) notes.footerMismatch = mismatch;
    }
    return { chosen: tail, notes };
  }
  if (head !== undefined) {
    if (tailError !== undefined) notes.tailFooter = `invalid (${tailError.code}: ${tailError.message}); using the copy at 0`;
    return { chosen: head, notes };
  }
  if (headError !== undefined) throw headError;
  if (tailError !== undefined) throw tailError;
  if (!source.seekable) {
    throw new DiskError(
      'NOT_SEEKABLE',
      'no footer copy at offset 0: a fixed VHD keeps its only footer at the end, so it cannot be read from a pipe',
      { file: name, format: 'vhd', offset: 0, field: 'footer.cookie' },
    );
  }
  throw new DiskError('BAD_MAGIC', 'no "conectix" footer at the end of the file or at offset 0', {
    file: name, format: 'vhd', offset: Math.max(0, (size ?? SECTOR) - SECTOR), field: 'footer.cookie',
  });
}

/** How two valid footer copies differ in what matters for reading, if they do. */
function disagreement(head: Footer, tail: Footer): string | undefined {
  const differences: string[] = [];
  if (head.diskType !== tail.diskType) differences.push(`diskType ${head.diskType} vs ${tail.diskType}`);
  if (head.currentSize !== tail.currentSize) differences.push(`currentSize ${head.currentSize} vs ${tail.currentSize}`);
  if (geometryOf(head).join('/') !== geometryOf(tail).join('/')) {
    differences.push(`geometry ${geometryOf(head).join('/')} vs ${geometryOf(tail).join('/')}`);
  }
  if (head.dataOffset !== tail.dataOffset) differences.push(`dataOffset ${head.dataOffset} vs ${tail.dataOffset}`);
  return differences.length === 0 ? undefined : `copy at 0 and footer at the end differ: ${differences.join(', ')}`;
}

function geometryOf(footer: Footer): [number, number, number] {
  return [footer.cylinders, footer.heads, footer.sectorsPerTrack];
}

/** Creators whose currentSize is the disk size; everything else (Virtual PC, old qemu) sized the disk by CHS. */
const SIZED_BY_CURRENT_SIZE = ['win ', 'qem2', 'd2v ', 'CTXS', 'tap\0'];
/** The sectors of the largest CHS geometry: a disk this big or bigger cannot be described by CHS. */
const MAX_CHS_SECTORS = MAX_GEOMETRY.cylinders * MAX_GEOMETRY.heads * MAX_GEOMETRY.sectorsPerTrack;

export interface SizeFacts {
  virtualSize: number;
  sizeSource: 'currentSize' | 'chs';
  chsSize: number;
  currentSize: number | string;
}

/**
 * The virtual size as `qemu-img info -f vpc` (7.2) computes it, since qemu is the reference: the CHS geometry
 * (cylinders x heads x sectors x 512) unless the creator is one known to write currentSize faithfully, or the
 * geometry's product is the maximum (then CHS would truncate the disk). currentSize is used in whole sectors.
 */
export function virtualSizeOf(located: LocatedFooter, file: string): SizeFacts {
  const { footer, offset } = located;
  const creator = Buffer.from(footer.creatorApplication).toString('latin1');
  const chsSectors = footer.cylinders * footer.heads * footer.sectorsPerTrack;
  const chsSize = chsSectors * SECTOR;
  const useCurrentSize = SIZED_BY_CURRENT_SIZE.includes(creator) || chsSectors === MAX_CHS_SECTORS;
  const currentSize =
    footer.currentSize <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(footer.currentSize) : footer.currentSize.toString();
  if (!useCurrentSize) return { virtualSize: chsSize, sizeSource: 'chs', chsSize, currentSize };
  const sectors = footer.currentSize / BigInt(SECTOR);
  if (sectors * BigInt(SECTOR) > BigInt(Limits.maxVirtualSize)) {
    throw new DiskError('LIMIT_EXCEEDED', `currentSize ${footer.currentSize} exceeds the maximum of ${Limits.maxVirtualSize}`, {
      file, format: 'vhd', offset: offset + FOOTER.offsetOf('currentSize'), field: 'footer.currentSize',
    });
  }
  return { virtualSize: Number(sectors) * SECTOR, sizeSource: 'currentSize', chsSize, currentSize };
}

export function footerDetails(located: LocatedFooter): Record<string, unknown> {
  const { footer } = located;
  const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1').replace(/\0/g, '');
  return {
    creatorApplication: text(footer.creatorApplication),
    creatorVersion: `${footer.creatorVersion >>> 16}.${footer.creatorVersion & 0xffff}`,
    creatorHostOs: text(footer.creatorHostOs),
    geometry: { cylinders: footer.cylinders, heads: footer.heads, sectorsPerTrack: footer.sectorsPerTrack },
    uniqueId: footer.uniqueId,
    // Seconds since 2000-01-01 00:00:00 UTC.
    timeStamp: new Date(Date.UTC(2000, 0, 1) + footer.timeStamp * 1000).toISOString(),
    footer: located.where,
    ...(footer.savedState !== 0 ? { savedState: true } : {}),
  };
}

export function hex(value: number): string {
  return value.toString(16).padStart(8, '0');
}
