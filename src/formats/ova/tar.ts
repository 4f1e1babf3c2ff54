/**
 * Tar headers (POSIX ustar, GNU, pax; formats.md 6.1) and the header-hopping walker used on random-access sources:
 * it reads each 512-byte header and jumps over the data to the next (`align512(dataStart + size)`), so listing a
 * 20 GiB OVA reads a few KiB. Only pax and GNU long-name records are read besides the headers.
 */
import { Limits } from '../../limits.js';
import type { ByteSource } from '../../source/types.js';
import { defineStruct } from '../../struct/index.js';
import { EntryCatalog, type EntryKind } from './catalog.js';
import { ovaError } from './fail.js';
import type { TarEntry } from './types.js';

export const BLOCK = 512;

/** One ustar header block. Numeric fields are octal text (or GNU base-256), hence 'bytes'. */
export const USTAR = defineStruct('ustarHeader', BLOCK, {
  name: [0, 'bytes', 100],
  mode: [100, 'bytes', 8],
  uid: [108, 'bytes', 8],
  gid: [116, 'bytes', 8],
  size: [124, 'bytes', 12],
  mtime: [136, 'bytes', 12],
  checksum: [148, 'bytes', 8],
  typeflag: [156, 'u8'],
  linkname: [157, 'bytes', 100],
  magic: [257, 'bytes', 6],
  version: [263, 'bytes', 2],
  uname: [265, 'ascii', 32],
  gname: [297, 'ascii', 32],
  devmajor: [329, 'bytes', 8],
  devminor: [337, 'bytes', 8],
  prefix: [345, 'bytes', 155],
});

/** Consecutive pax / long-name headers allowed before an entry's own header (real archives use one or two). */
const MAX_EXTENDED_CHAIN = 8;

export function align512(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/**
 * 'posix' for "ustar\0" (POSIX writes version "00" after it; not checked, as tar-stream, the pipe path, does not),
 * 'gnu' for "ustar  \0".
 */
export function ustarFlavor(block: Uint8Array): 'posix' | 'gnu' | undefined {
  if (block.length < BLOCK) return undefined;
  const magic = Buffer.from(block.subarray(257, 265)).toString('latin1');
  if (magic.startsWith('ustar\u0000')) return 'posix';
  if (magic === 'ustar  \u0000') return 'gnu';
  return undefined;
}

/** The header checksum: the unsigned sum of all 512 bytes with the checksum field read as eight spaces. */
export function headerSum(block: Uint8Array): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  return sum;
}

/**
 * A numeric field: GNU base-256 (first byte 0x80, the rest big-endian), or octal text read the way tar-stream (the
 * pipe path) reads it, so both paths frame the same archive the same way: leading spaces skipped, the field cut at
 * the first space after them, leading NULs skipped, then the leading octal digits; an empty field is 0. Undefined
 * when there are no digits, or the value is negative or not an exact JS number.
 */
export function parseNumber(field: Uint8Array): number | undefined {
  if (field[0]! & 0x80) {
    if (field[0] !== 0x80) return undefined; // 0xFF: negative; anything else is not base-256
    let value = 0n;
    for (const byte of field.subarray(1)) value = (value << 8n) | BigInt(byte);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  }
  let i = 0;
  while (i < field.length && field[i] === 0x20) i++;
  let end = field.indexOf(0x20, i);
  if (end === -1) end = field.length;
  while (i < end && field[i] === 0) i++;
  if (i === end) return 0;
  let value = 0;
  let digits = 0;
  for (; i < end && field[i]! >= 0x30 && field[i]! <= 0x37; i++, digits++) value = value * 8 + field[i]! - 0x30;
  if (digits === 0) return undefined;
  return Number.isSafeInteger(value) ? value : undefined;
}

/** True when the block carries a ustar/GNU magic and a correct checksum: what detection needs. */
export function isTarHeader(block: Uint8Array): boolean {
  if (ustarFlavor(block) === undefined) return false;
  return parseNumber(block.subarray(148, 156)) === headerSum(block);
}

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('utf8');
}

function kindOf(typeflag: number, name: string): EntryKind {
  switch (String.fromCharCode(typeflag)) {
    case '\0':
    case '0':
    case '7': // contiguous file: a regular file to every reader
      // Pre-POSIX archives mark directories with a trailing slash only.
      return name.endsWith('/') ? 'directory' : 'file';
    case '5':
      return 'directory';
    case '1':
    case '2':
      return 'link';
    case '3':
    case '4':
    case '6':
      return 'device';
    default:
      return 'unknown';
  }
}

/** What pax 'x' records (and GNU long names) change for the next entry. */
interface Overrides {
  path?: string;
  size?: number;
  longName?: string;
  /** GNU.sparse.* records were present: refused at the entry's own header (where a pipe sees them too). */
  sparse?: boolean;
  /** A size record that is not a byte count: refused at the entry's own header, like `sparse`. */
  badSize?: string;
}

/**
 * A pax size value we accept: decimal digits (around them, white space), an exact JS number. Stricter than
 * tar-stream's parseInt, which takes "12abc" as 12; the pipe path applies the same test to what tar-stream decoded.
 */
export function isPaxSize(value: string): boolean {
  return /^[0-9]{1,16}$/.test(value.trim()) && Number.isSafeInteger(Number(value.trim()));
}

/**
 * Parses pax records `"<len> <key>=<value>\n"` (len counts the whole record). Keeps path and size, and notes
 * GNU.sparse.*: such an entry's data is a sparse map rather than the file, which no OVA disk reader could use.
 * Parsing stops at the first malformed record, keeping what came before: tar-stream (the pipe path) does the same,
 * and both paths must frame the archive alike. What is kept is checked like any header value.
 */
export function parsePax(bytes: Uint8Array, into: Overrides): void {
  let pos = 0;
  while (pos < bytes.length) {
    const space = bytes.indexOf(0x20, pos);
    const lengthText = Buffer.from(bytes.subarray(pos, space === -1 ? bytes.length : space)).toString('latin1');
    if (!/^[1-9][0-9]{0,15}$/.test(lengthText)) return;
    const end = pos + Number(lengthText);
    if (end <= space + 1) return;
    // A length running past the data takes what there is (tar-stream does), so both paths read the same value.
    const record = Buffer.from(bytes.subarray(space + 1, Math.min(end - 1, bytes.length))).toString('utf8');
    const equals = record.indexOf('=');
    if (equals === -1) return;
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (key === 'path') into.path = value;
    else if (key === 'size') {
      if (isPaxSize(value)) into.size = Number(value.trim());
      else if (value !== '') into.badSize = value; // an empty record is ignored, as tar-stream does
    } else if (key.startsWith('GNU.sparse.')) into.sparse = true;
    pos = end;
  }
}

/**
 * Walks every header of a random-access tar and returns its catalog (entries checked by EntryCatalog). Ends at two
 * all-zero blocks (the end-of-archive marker) or at the end of the file. `onEntry` sees each file entry as it is
 * found, before the walk goes on, so a caller can handle entries in archive order as a pipe would.
 */
export async function walkTar(
  source: ByteSource,
  onEntry: (entry: TarEntry, headerOffset: number) => Promise<void> = async () => undefined,
): Promise<EntryCatalog> {
  const file = source.name;
  const total = source.size;
  if (total === undefined) throw ovaError(file, 'INTERNAL', 'walkTar needs a source of known size', 0, 'header');
  const catalog = new EntryCatalog(file);
  let pos = 0;
  let pending: Overrides = {};
  let chain = 0; // consecutive extended headers
  for (;;) {
    if (pos >= total) break;
    if (total - pos < BLOCK) throw ovaError(file, 'TRUNCATED', `the tar ends ${total - pos} bytes into a header`, pos, 'header');
    const block = await source.read(pos, BLOCK);
    if (block.every((byte) => byte === 0)) {
      // Two zero blocks (or one and the end of the file) end the archive. A lone zero block is skipped, as
      // tar-stream (the pipe path) skips it. An extended header left waiting for its entry is ignored, likewise.
      if (total - pos < 2 * BLOCK || (await source.read(pos + BLOCK, BLOCK)).every((byte) => byte === 0)) break;
      pos += BLOCK;
      continue;
    }
    const header = USTAR.decode(block);
    const stored = parseNumber(header.checksum);
    const sum = headerSum(block);
    if (stored !== sum) {
      throw ovaError(file, 'BAD_CHECKSUM', `header checksum is ${stored ?? 'unreadable'}, the header sums to ${sum}`, pos, 'header.checksum');
    }
    const flavor = ustarFlavor(block);
    if (flavor === undefined) throw ovaError(file, 'BAD_HEADER', 'no ustar or GNU magic', pos, 'header.magic');
    const ownSize = parseNumber(header.size);
    const typeflag = String.fromCharCode(header.typeflag);
    const extended = typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K';
    // A pax size record overrides the header's size (even an unreadable one) for the entry it precedes, never for
    // another extended header.
    const size = extended ? ownSize : pending.size ?? ownSize;
    if (size === undefined) throw ovaError(file, 'BAD_HEADER', 'size field is not a number', pos, 'header.size');
    if (extended && size > Limits.maxTarExtendedHeaderBytes) {
      throw ovaError(file, 'LIMIT_EXCEEDED', `extended header of ${size} bytes exceeds the maximum of ${Limits.maxTarExtendedHeaderBytes}`, pos, 'header.size');
    }
    const dataStart = pos + BLOCK;
    const next = align512(dataStart + size);
    if (dataStart + size > total) {
      throw ovaError(file, 'TRUNCATED', `entry data runs to ${dataStart + size} but the file is ${total} bytes`, pos, 'header.size');
    }
    if (next > total) {
      // The data is whole but its padding is cut: where the next header was due, as a pipe reports it too.
      throw ovaError(file, 'TRUNCATED', `the tar ends in the padding after an entry (at ${total}, padding to ${next})`, next, 'header');
    }
    if (extended) {
      if (++chain > MAX_EXTENDED_CHAIN) throw ovaError(file, 'BAD_HEADER', `more than ${MAX_EXTENDED_CHAIN} extended headers in a row`, pos, 'header.typeflag');
      if (typeflag === 'x' || typeflag === 'L') {
        const data = await source.read(dataStart, size);
        if (typeflag === 'x') parsePax(data, pending);
        else pending.longName = text(data);
      }
      // 'g' (pax global) and 'K' (GNU long link target) change nothing an OVA reader uses: skipped.
      pos = next;
      continue;
    }
    const ownName = text(header.name);
    const prefix = flavor === 'posix' ? text(header.prefix) : '';
    // An empty pax path or long name does not count (tar-stream ignores them too).
    const name = pending.path || pending.longName || (prefix === '' ? ownName : `${prefix}/${ownName}`);
    if (pending.badSize !== undefined) {
      throw ovaError(file, 'BAD_HEADER', `pax extended header: size ${JSON.stringify(pending.badSize)} is not a byte count`, pos, 'pax');
    }
    if (pending.sparse) {
      throw ovaError(file, 'UNSUPPORTED_FEATURE', 'a GNU sparse member (pax GNU.sparse.*): its data is a sparse map, not the file', pos, 'pax');
    }
    const entry = catalog.add({ name, kind: kindOf(header.typeflag, name), type: typeflag === '\0' ? 'NUL' : typeflag, headerOffset: pos, dataOffset: dataStart, size });
    if (entry !== undefined) await onEntry(entry, pos);
    pending = {};
    chain = 0;
    pos = next;
  }
  return catalog;
}
