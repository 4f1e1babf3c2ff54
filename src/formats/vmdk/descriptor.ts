/**
 * The VMDK text descriptor (formats.md 1.3): `key = "value"` lines, comments, and extent lines
 * `<access> <sectors> <type> ["file"] [offset]`. Parsing is strict about syntax (a bad line is reported with its
 * number) and lenient about keys it does not know, which VMware products add over time.
 */
import { DiskError } from '../../errors.js';
import { Limits } from '../../limits.js';
import { SECTOR } from './structs.js';

export type ExtentAccess = 'RW' | 'RDONLY' | 'NOACCESS';

export interface ExtentLine {
  readonly access: ExtentAccess;
  readonly sectors: number;
  /** Upper-cased as VMware writes it: FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, ... */
  readonly type: string;
  readonly file: string | undefined;
  /** Sectors into the file where a FLAT extent's data starts. */
  readonly offset: number;
  readonly line: number;
}

export interface Descriptor {
  readonly version: number | undefined;
  readonly cid: string | undefined;
  readonly parentCid: string | undefined;
  readonly createType: string | undefined;
  readonly parentFileNameHint: string | undefined;
  readonly extents: readonly ExtentLine[];
  /** Every other key (ddb.*, encoding, ...) with its unquoted value; the last occurrence wins. */
  readonly keys: ReadonlyMap<string, string>;
}

/** A parentCID of all ones means "no parent" (formats.md 1.3). */
export const NO_PARENT_CID = 'ffffffff';

const ACCESS = new Set<string>(['RW', 'RDONLY', 'NOACCESS']);
const EXTENT_LINE = /^(\S+)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?$/;
const KEY_VALUE = /^([A-Za-z_][\w.\-]*)\s*=\s*(.*)$/;
const MAX_SECTORS = Limits.maxVirtualSize / SECTOR;

/** Cuts the descriptor at its first NUL: embedded descriptors and qemu's standalone files are NUL-padded. */
export function descriptorText(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('utf8');
}

/** True when the bytes hold no descriptor at all (qemu's twoGbMaxExtentSparse slices reserve the area but leave it zero). */
export function isBlank(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

export function parseDescriptor(text: string, where: { file: string; offset: number }): Descriptor {
  const fail = (line: number, message: string): never => {
    throw new DiskError('BAD_DESCRIPTOR', message, {
      file: where.file,
      format: 'vmdk',
      offset: where.offset,
      field: `descriptor line ${line}`,
    });
  };
  const keys = new Map<string, string>();
  const extents: ExtentLine[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  for (let index = 0; index < lines.length; index++) {
    const number = index + 1;
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const word = line.split(/\s/, 1)[0]!;
    if (ACCESS.has(word.toUpperCase())) {
      if (extents.length >= Limits.maxExtents) {
        throw new DiskError('LIMIT_EXCEEDED', `more than ${Limits.maxExtents} extent lines`, {
          file: where.file,
          format: 'vmdk',
          offset: where.offset,
          field: `descriptor line ${number}`,
        });
      }
      extents.push(parseExtentLine(line, number, fail));
      continue;
    }
    const match = KEY_VALUE.exec(line);
    if (match === null) fail(number, `expected "key = value" or an extent line, found ${JSON.stringify(clip(line))}`);
    keys.set(match![1]!, unquote(match![2]!.trim(), number, fail));
  }

  const take = (name: string): string | undefined => {
    for (const [key, value] of keys) {
      if (key.toLowerCase() === name.toLowerCase()) {
        keys.delete(key);
        return value;
      }
    }
    return undefined;
  };
  const lineOf = (name: string) => 1 + lines.findIndex((l) => l.trim().toLowerCase().startsWith(name.toLowerCase()));

  const versionText = take('version');
  let version: number | undefined;
  if (versionText !== undefined) {
    if (!/^\d{1,9}$/.test(versionText)) fail(lineOf('version'), `version ${JSON.stringify(clip(versionText))} is not a number`);
    version = Number(versionText);
  }
  const cid = take('CID');
  if (cid !== undefined && !/^[0-9a-fA-F]{1,8}$/.test(cid)) fail(lineOf('CID'), `CID ${JSON.stringify(clip(cid))} is not 8 hex digits`);
  const parentCid = take('parentCID');
  if (parentCid !== undefined && !/^[0-9a-fA-F]{1,8}$/.test(parentCid)) {
    fail(lineOf('parentCID'), `parentCID ${JSON.stringify(clip(parentCid))} is not 8 hex digits`);
  }
  const createType = take('createType');
  const parentFileNameHint = take('parentFileNameHint');
  return {
    version,
    cid: cid?.toLowerCase(),
    parentCid: parentCid?.toLowerCase(),
    createType,
    parentFileNameHint,
    extents,
    keys,
  };
}

function parseExtentLine(line: string, number: number, fail: (line: number, message: string) => never): ExtentLine {
  const match = EXTENT_LINE.exec(line);
  if (match === null) fail(number, `bad extent line ${JSON.stringify(clip(line))}`);
  const [, access, sectorsText, typeText, file, offsetText] = match!;
  const sectors = Number(sectorsText);
  if (!(sectors <= MAX_SECTORS)) fail(number, `extent of ${sectorsText} sectors is larger than any disk`);
  if (sectors === 0) fail(number, 'extent of 0 sectors');
  const offset = offsetText === undefined ? 0 : Number(offsetText);
  if (!(offset <= MAX_SECTORS)) fail(number, `extent offset ${offsetText} lies past any file`);
  const type = typeText!.toUpperCase();
  if (file !== undefined && file === '') fail(number, 'empty extent file name');
  if (file === undefined && type !== 'ZERO') fail(number, `a ${type} extent needs a "file name"`);
  if (offsetText !== undefined && type !== 'FLAT' && type !== 'VMFS' && offset !== 0) {
    fail(number, `only FLAT extents take an offset, not ${type}`);
  }
  return { access: access!.toUpperCase() as ExtentAccess, sectors, type, file, offset, line: number };
}

function unquote(value: string, number: number, fail: (line: number, message: string) => never): string {
  if (!value.startsWith('"')) return value;
  if (value.length < 2 || !value.endsWith('"')) fail(number, `unterminated quoted value ${JSON.stringify(clip(value))}`);
  return value.slice(1, -1);
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/**
 * Detection of a standalone descriptor: text starting with `#` that names a createType or carries the
 * `# Disk DescriptorFile` banner within the first 2 KiB, with nothing but printable text before any NUL padding.
 */
export function looksLikeDescriptor(head: Uint8Array): boolean {
  if (head.length === 0 || head[0] !== 0x23) return false;
  const window = head.subarray(0, Math.min(head.length, 2048));
  const end = window.indexOf(0);
  const text = end === -1 ? window : window.subarray(0, end);
  for (const byte of text) {
    const printable = byte === 0x09 || byte === 0x0a || byte === 0x0d || (byte >= 0x20 && byte !== 0x7f);
    if (!printable) return false;
  }
  // After the first NUL, only NUL padding may follow inside the window.
  if (end !== -1 && !isBlank(window.subarray(end))) return false;
  const ascii = Buffer.from(text).toString('latin1');
  return /createType\s*=/i.test(ascii) || /^#\s*Disk DescriptorFile/i.test(ascii);
}
