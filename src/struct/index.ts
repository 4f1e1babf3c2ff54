/**
 * On-disk structures declared once as field tables; the same table decodes and encodes.
 * Integers up to 32 bits decode to `number`, 64-bit ones to `bigint` (a reader must range-check them before
 * using them as an offset or size: see `toSafeNumber`). GUIDs use Microsoft's mixed-endian layout.
 */
import { DiskError } from '../errors.js';

type IntType = 'u8' | 'u16le' | 'u16be' | 'u32le' | 'u32be';
type BigType = 'u64le' | 'u64be';
type SizedType = 'bytes' | 'ascii' | 'utf16le' | 'utf16be';

export type FieldSpec =
  | readonly [offset: number, type: IntType | BigType | 'guid']
  | readonly [offset: number, type: SizedType, length: number];

type ValueOf<S> = S extends readonly [number, infer T, ...unknown[]]
  ? T extends IntType
    ? number
    : T extends BigType
      ? bigint
      : T extends 'bytes'
        ? Uint8Array
        : string
  : never;

export type Decoded<F extends Record<string, FieldSpec>> = { [K in keyof F]: ValueOf<F[K]> };

export interface Struct<F extends Record<string, FieldSpec>> {
  readonly name: string;
  readonly size: number;
  readonly fields: F;
  decode(bytes: Uint8Array, at?: number): Decoded<F>;
  encode(values: Partial<Decoded<F>>, into?: Uint8Array, at?: number): Uint8Array;
  /** Byte offset of a field inside the struct. */
  offsetOf(field: keyof F): number;
}

const FIXED_WIDTH: Record<IntType | BigType | 'guid', number> = {
  u8: 1, u16le: 2, u16be: 2, u32le: 4, u32be: 4, u64le: 8, u64be: 8, guid: 16,
};

function widthOf(spec: FieldSpec): number {
  return spec.length === 3 ? spec[2] : FIXED_WIDTH[spec[1]];
}

export function defineStruct<const F extends Record<string, FieldSpec>>(
  name: string,
  size: number,
  fields: F,
): Struct<F> {
  for (const [key, spec] of Object.entries(fields)) {
    if (spec[0] + widthOf(spec) > size) throw new Error(`${name}.${key} lies outside the ${size}-byte struct`);
  }
  return {
    name,
    size,
    fields,
    decode(bytes, at = 0) {
      if (bytes.length - at < size) {
        throw new DiskError('TRUNCATED', `${name} needs ${size} bytes, only ${bytes.length - at} present`);
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, size);
      const out: Record<string, unknown> = {};
      for (const [key, spec] of Object.entries(fields)) out[key] = decodeField(view, spec);
      return out as Decoded<F>;
    },
    encode(values, into = new Uint8Array(size), at = 0) {
      const view = new DataView(into.buffer, into.byteOffset + at, size);
      for (const [key, value] of Object.entries(values)) {
        const spec = fields[key];
        if (spec === undefined || value === undefined) continue;
        encodeField(view, spec, value);
      }
      return into;
    },
    offsetOf(field) {
      return fields[field]![0];
    },
  };
}

function decodeField(view: DataView, spec: FieldSpec): unknown {
  const at = spec[0];
  switch (spec[1]) {
    case 'u8': return view.getUint8(at);
    case 'u16le': return view.getUint16(at, true);
    case 'u16be': return view.getUint16(at, false);
    case 'u32le': return view.getUint32(at, true);
    case 'u32be': return view.getUint32(at, false);
    case 'u64le': return view.getBigUint64(at, true);
    case 'u64be': return view.getBigUint64(at, false);
    case 'guid': return formatGuid(sliceOf(view, at, 16));
    case 'bytes': return sliceOf(view, at, spec[2]!).slice();
    case 'ascii': return trimNul(Buffer.from(sliceOf(view, at, spec[2]!)).toString('latin1'));
    case 'utf16le': return trimNul(Buffer.from(sliceOf(view, at, spec[2]!)).toString('utf16le'));
    case 'utf16be': return trimNul(Buffer.from(sliceOf(view, at, spec[2]!)).swap16().toString('utf16le'));
  }
}

function encodeField(view: DataView, spec: FieldSpec, value: unknown): void {
  const at = spec[0];
  switch (spec[1]) {
    case 'u8': return view.setUint8(at, value as number);
    case 'u16le': return view.setUint16(at, value as number, true);
    case 'u16be': return view.setUint16(at, value as number, false);
    case 'u32le': return view.setUint32(at, value as number, true);
    case 'u32be': return view.setUint32(at, value as number, false);
    case 'u64le': return view.setBigUint64(at, value as bigint, true);
    case 'u64be': return view.setBigUint64(at, value as bigint, false);
    case 'guid': return writeBytes(view, at, parseGuid(value as string), 16);
    case 'bytes': return writeBytes(view, at, value as Uint8Array, spec[2]!);
    case 'ascii': return writeBytes(view, at, Buffer.from(value as string, 'latin1'), spec[2]!);
    case 'utf16le': return writeBytes(view, at, Buffer.from(value as string, 'utf16le'), spec[2]!);
    case 'utf16be': return writeBytes(view, at, Buffer.from(value as string, 'utf16le').swap16(), spec[2]!);
  }
}

function sliceOf(view: DataView, at: number, length: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset + at, length);
}

function writeBytes(view: DataView, at: number, bytes: Uint8Array, width: number): void {
  if (bytes.length > width) throw new RangeError(`value of ${bytes.length} bytes does not fit a ${width}-byte field`);
  const target = sliceOf(view, at, width);
  target.fill(0);
  target.set(bytes);
}

function trimNul(text: string): string {
  const end = text.indexOf('\0');
  return end === -1 ? text : text.slice(0, end);
}

/** Formats 16 bytes in Microsoft's mixed-endian GUID layout (first three groups little-endian). */
export function formatGuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  const swap = (s: string) => s.match(/../g)!.reverse().join('');
  return [swap(hex.slice(0, 8)), swap(hex.slice(8, 12)), swap(hex.slice(12, 16)), hex.slice(16, 20), hex.slice(20)]
    .join('-')
    .toUpperCase();
}

export function parseGuid(guid: string): Uint8Array {
  const hex = guid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`not a GUID: ${guid}`);
  const swap = (s: string) => s.match(/../g)!.reverse().join('');
  return Buffer.from(swap(hex.slice(0, 8)) + swap(hex.slice(8, 12)) + swap(hex.slice(12, 16)) + hex.slice(16), 'hex');
}

/** Converts a 64-bit field to a number, or throws when it cannot be an offset or size below `max`. */
export function toSafeNumber(
  value: bigint,
  max: number,
  what: { field: string; format: string; offset?: number },
): number {
  if (value > BigInt(max)) {
    throw new DiskError('LIMIT_EXCEEDED', `${what.field} = ${value} exceeds the maximum of ${max}`, what);
  }
  return Number(value);
}
