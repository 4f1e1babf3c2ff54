/**
 * qcow2 header: decoded, checked field by field, and the images diskport refuses (encrypted, backing file,
 * external data file, unknown or unsupported incompatible features) turned into their own error codes before
 * anything else is read. Reads go forward only: header, then the header extensions in the first cluster, then the
 * backing file name.
 */
import { DiskError, type ErrorCode } from '../../errors.js';
import { Limits } from '../../limits.js';
import type { ByteSource } from '../../source/types.js';
import { toSafeNumber } from '../../struct/index.js';
import {
  COMPATIBLE_LAZY_REFCOUNTS,
  CompressionType,
  CryptMethod,
  EXTENDED_L2_ENTRY,
  ExtensionHeader,
  ExtensionType,
  FeatureNameEntry,
  Header,
  HeaderCompression,
  HeaderV3,
  Incompatible,
  KNOWN_INCOMPATIBLE,
  MAX_BACKING_NAME,
  MAX_CLUSTER_BITS,
  MAX_REFCOUNT_ORDER,
  MIN_CLUSTER_BITS,
  MIN_EXTENDED_L2_CLUSTER_BITS,
  QCOW2_MAGIC,
  STANDARD_L2_ENTRY,
  V2_HEADER_LENGTH,
  V3_MIN_HEADER_LENGTH,
} from './structs.js';

export const FORMAT = 'qcow2';

/** Every header field and its byte offset, for error details. */
const HEADER_FIELDS = { ...Header.fields, ...HeaderV3.fields };

type Fail = (code: ErrorCode, message: string, field: string, offset: number) => DiskError;

/** Everything the mapping needs, checked. */
export interface Qcow2Layout {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  virtualSize: number;
  extendedL2: boolean;
  /** How compressed clusters are compressed: raw deflate, or one zstd frame each. */
  compression: 'zlib' | 'zstd';
  /** L2 entries per table (cluster_size / 8, or / 16 with extended L2). */
  l2Entries: number;
  /** Bytes per L2 entry (8 or 16). */
  entryBytes: number;
  l1Offset: number;
  /** L1 entries that cover the virtual size (the table may declare more; the rest is never used). */
  l1Entries: number;
  details: Record<string, unknown>;
}

/** Parses and checks the header and its extensions; throws the refusal codes for images diskport cannot read. */
export async function readLayout(source: ByteSource): Promise<Qcow2Layout> {
  const fail = (code: ErrorCode, message: string, field: string, offset = 0) =>
    new DiskError(code, message, { file: source.name, format: FORMAT, field, offset });
  const headerError = (code: ErrorCode, message: string, field: keyof typeof HEADER_FIELDS) =>
    fail(code, message, `header.${field}`, HEADER_FIELDS[field][0]);

  const head = await readPrefix(source, V2_HEADER_LENGTH);
  const header = Header.decode(head);
  if (header.magic !== QCOW2_MAGIC) throw headerError('BAD_MAGIC', 'not a qcow2 image (no "QFI\\xfb" magic)', 'magic');
  if (header.version !== 2 && header.version !== 3) {
    const what = header.version === 1 ? 'version 1 (the original qcow format)' : `version ${header.version}`;
    throw headerError('UNSUPPORTED_VERSION', `${what} is not supported; qcow2 versions 2 and 3 are`, 'version');
  }
  const version = header.version;

  // Cluster size first: it bounds the header, its extensions and every table.
  const clusterBits = header.cluster_bits;
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > 56) {
    throw headerError('BAD_HEADER', `cluster_bits ${clusterBits} is impossible (at least ${MIN_CLUSTER_BITS})`, 'cluster_bits');
  }
  if (clusterBits > MAX_CLUSTER_BITS) {
    throw headerError(
      'LIMIT_EXCEEDED',
      `cluster size 2^${clusterBits} exceeds the maximum of 2 MiB (cluster_bits ${MAX_CLUSTER_BITS}) that QEMU also enforces`,
      'cluster_bits',
    );
  }
  const clusterSize = 2 ** clusterBits;

  let headerLength = V2_HEADER_LENGTH;
  let incompatible = 0n;
  let compatible = 0n;
  let refcountOrder = 4;
  let compressionType: number = CompressionType.zlib;
  if (version === 3) {
    const v3 = HeaderV3.decode(await readPrefix(source, V3_MIN_HEADER_LENGTH));
    headerLength = v3.header_length;
    if (headerLength < V3_MIN_HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > clusterSize) {
      throw headerError(
        'BAD_HEADER',
        `header_length ${headerLength} is invalid (a multiple of 8, at least ${V3_MIN_HEADER_LENGTH}, inside the first cluster)`,
        'header_length',
      );
    }
    if (v3.refcount_order > MAX_REFCOUNT_ORDER) {
      throw headerError('BAD_HEADER', `refcount_order ${v3.refcount_order} exceeds ${MAX_REFCOUNT_ORDER}`, 'refcount_order');
    }
    refcountOrder = v3.refcount_order;
    incompatible = v3.incompatible_features;
    compatible = v3.compatible_features;
    if (headerLength > V3_MIN_HEADER_LENGTH) {
      compressionType = HeaderCompression.decode(await readPrefix(source, HeaderCompression.size)).compression_type;
    }
  }

  // Refusals, each with its own code, before any other field is trusted.
  if (header.crypt_method !== CryptMethod.none) {
    const method =
      header.crypt_method === CryptMethod.aes ? 'AES' : header.crypt_method === CryptMethod.luks ? 'LUKS' : `method ${header.crypt_method}`;
    throw headerError(
      'QCOW2_ENCRYPTED',
      `the image is encrypted (${method}); decrypt it first, e.g. qemu-img convert --object secret,... -O qcow2`,
      'crypt_method',
    );
  }
  // The backing file name, when there is one, follows the extensions inside the first cluster (old writers put it
  // right after the header): the extension area ends where it starts.
  const backingAt = header.backing_file_offset;
  const areaEnd = backingAt !== 0n && backingAt < BigInt(clusterSize) ? Number(backingAt) : clusterSize;
  const extensions = await readExtensions(source, headerLength, areaEnd, fail);
  if (header.backing_file_offset !== 0n) {
    const name = await readBackingName(source, header.backing_file_offset, header.backing_file_size);
    const format = extensions.backingFormat === undefined ? '' : ` (format ${extensions.backingFormat})`;
    throw headerError(
      'QCOW2_BACKING_FILE',
      `the image has a backing file ${name}${format}; diskport reads standalone images only: ` +
        'flatten it first with qemu-img convert -O qcow2',
      'backing_file_offset',
    );
  }
  if (incompatible & Incompatible.externalDataFile) {
    const name = extensions.dataFile === undefined ? '(name not recorded)' : JSON.stringify(extensions.dataFile);
    throw headerError(
      'QCOW2_EXTERNAL_DATA_FILE',
      `the image keeps its data in an external data file ${name}; convert it to a standalone image first with qemu-img convert -O qcow2`,
      'incompatible_features',
    );
  }
  const unknown = incompatible & ~KNOWN_INCOMPATIBLE;
  if (unknown !== 0n) {
    const names = bitsOf(unknown).map((bit) => extensions.featureNames.get(bit) ?? `bit ${bit}`);
    throw headerError('UNSUPPORTED_FEATURE', `unknown incompatible features: ${names.join(', ')}`, 'incompatible_features');
  }
  const compressionBit = (incompatible & Incompatible.compressionType) !== 0n;
  if (compressionBit !== (compressionType !== CompressionType.zlib)) {
    throw headerError(
      'BAD_HEADER',
      compressionBit
        ? 'the compression type feature bit is set but compression_type is zlib or absent'
        : `compression_type ${compressionType} without the compression type feature bit`,
      'incompatible_features',
    );
  }
  if (compressionType !== CompressionType.zlib && compressionType !== CompressionType.zstd) {
    throw fail(
      'UNSUPPORTED_FEATURE',
      `unknown compression_type ${compressionType} (qcow2 knows 0, zlib, and 1, zstd)`,
      'header.compression_type',
      HeaderCompression.offsetOf('compression_type'),
    );
  }
  const compression = compressionType === CompressionType.zstd ? 'zstd' : 'zlib';
  const extendedL2 = (incompatible & Incompatible.extendedL2) !== 0n;
  if (extendedL2 && clusterBits < MIN_EXTENDED_L2_CLUSTER_BITS) {
    throw headerError('BAD_HEADER', `extended L2 entries need clusters of at least 16 KiB, not ${clusterSize}`, 'cluster_bits');
  }

  // Size and the active L1 table.
  const virtualSize = toSafeNumber(header.size, Limits.maxVirtualSize, {
    field: 'header.size',
    format: FORMAT,
    offset: Header.offsetOf('size'),
  });
  const entryBytes = extendedL2 ? EXTENDED_L2_ENTRY : STANDARD_L2_ENTRY;
  const l2Entries = clusterSize / entryBytes;
  const l1Entries = Math.ceil(virtualSize / (clusterSize * l2Entries));
  const l1Size = header.l1_size;
  if (l1Size < l1Entries) {
    throw headerError('BAD_HEADER', `l1_size ${l1Size} is too small for a ${virtualSize}-byte disk (needs ${l1Entries})`, 'l1_size');
  }
  if (l1Size * 8 > Limits.maxTableBytes) {
    throw headerError(
      'LIMIT_EXCEEDED',
      `an L1 table of ${l1Size} entries exceeds the maximum of ${Limits.maxTableBytes} bytes`,
      'l1_size',
    );
  }
  const l1Offset = fileOffset(source, header.l1_table_offset, l1Size * 8, fail, 'header.l1_table_offset', Header.offsetOf('l1_table_offset'));
  if (l1Offset % clusterSize !== 0) {
    throw headerError('BAD_HEADER', `l1_table_offset ${l1Offset} is not cluster aligned`, 'l1_table_offset');
  }

  const details: Record<string, unknown> = {
    compat: version === 2 ? '0.10' : '1.1',
    clusterSize,
    compressionType: compression,
    refcountBits: 2 ** refcountOrder,
    l1Size,
    snapshots: header.nb_snapshots,
    dirty: (incompatible & Incompatible.dirty) !== 0n,
    corrupt: (incompatible & Incompatible.corrupt) !== 0n,
    extendedL2,
    lazyRefcounts: (compatible & COMPATIBLE_LAZY_REFCOUNTS) !== 0n,
  };
  return { version, clusterBits, clusterSize, virtualSize, extendedL2, compression, l2Entries, entryBytes, l1Offset, l1Entries, details };
}

/** The first `length` bytes of the file; a file shorter than that is TRUNCATED. */
async function readPrefix(source: ByteSource, length: number): Promise<Uint8Array> {
  if (source.size !== undefined && source.size < length) {
    throw new DiskError('TRUNCATED', `the file is ${source.size} bytes, shorter than the ${length}-byte qcow2 header`, {
      file: source.name,
      format: FORMAT,
      field: 'header',
      offset: 0,
    });
  }
  return source.read(0, length);
}

/** Converts a 64-bit offset field, checking that `length` bytes there lie inside the file. */
function fileOffset(
  source: ByteSource,
  value: bigint,
  length: number,
  fail: Fail,
  field: string,
  at: number,
): number {
  const end = value + BigInt(length);
  const limit = source.size === undefined ? BigInt(Number.MAX_SAFE_INTEGER) : BigInt(source.size);
  if (end > limit) {
    throw fail('OFFSET_OUT_OF_RANGE', `${field}: bytes ${value}..${end} lie past the end of the file`, field, at);
  }
  return Number(value);
}

interface Extensions {
  backingFormat?: string;
  dataFile?: string;
  /** Names of incompatible feature bits, from the feature name table. */
  featureNames: Map<number, string>;
}

/** Most bytes of the header extension area read at once: the area is usually a few hundred bytes. */
const EXTENSION_WINDOW = 4096;

/**
 * Walks the header extensions between the header and the end of the first cluster: stops at the end marker,
 * never past the first cluster or the file, every length checked before its data is used.
 */
async function readExtensions(source: ByteSource, start: number, areaEnd: number, fail: Fail): Promise<Extensions> {
  const out: Extensions = { featureNames: new Map() };
  const end = Math.min(areaEnd, source.size ?? areaEnd);
  const area = new AreaReader(source, start, end);
  for (let at = start; at + ExtensionHeader.size <= end; ) {
    const { type, length } = ExtensionHeader.decode(await area.bytes(at, ExtensionHeader.size));
    if (type === ExtensionType.end) break;
    const dataAt = at + ExtensionHeader.size;
    if (length > end - dataAt) {
      throw fail('BAD_HEADER', `header extension 0x${hex(type)} of ${length} bytes runs past its area (the first cluster)`, 'extension.length', at);
    }
    if (type === ExtensionType.featureNames) {
      const data = await area.bytes(dataAt, length);
      for (let entry = 0; entry + FeatureNameEntry.size <= length; entry += FeatureNameEntry.size) {
        const { type: kind, bit, name } = FeatureNameEntry.decode(data, entry);
        if (kind === 0 && bit < 64) out.featureNames.set(bit, JSON.stringify(printable(name)));
      }
    } else if (type === ExtensionType.backingFormat) {
      out.backingFormat = text(await area.bytes(dataAt, Math.min(length, MAX_BACKING_NAME)));
    } else if (type === ExtensionType.externalDataFile) {
      out.dataFile = text(await area.bytes(dataAt, Math.min(length, MAX_BACKING_NAME)));
    }
    // Bitmaps, the encryption header pointer (crypt_method is refused already) and unknown types are skipped.
    at = dataAt + Math.ceil(length / 8) * 8;
  }
  return out;
}

/** Reads an area forward in windows, so a 2 MiB first cluster is not read whole for a few hundred bytes. */
class AreaReader {
  private buffer: Uint8Array = new Uint8Array(0);
  private bufferAt: number;

  constructor(
    private readonly source: ByteSource,
    start: number,
    private readonly end: number,
  ) {
    this.bufferAt = start;
  }

  async bytes(at: number, length: number): Promise<Uint8Array> {
    const bufferEnd = this.bufferAt + this.buffer.length;
    if (at < this.bufferAt || at + length > bufferEnd) {
      const readAt = Math.max(at, this.bufferAt);
      const readEnd = Math.min(this.end, Math.max(at + length, readAt + EXTENSION_WINDOW));
      this.buffer = await this.source.read(readAt, readEnd - readAt);
      this.bufferAt = readAt;
    }
    return this.buffer.subarray(at - this.bufferAt, at - this.bufferAt + length);
  }
}

/** The backing file name for the refusal message; a name that cannot be read still refuses, without the name. */
async function readBackingName(source: ByteSource, offset: bigint, size: number): Promise<string> {
  const length = Math.min(size, MAX_BACKING_NAME);
  const limit = source.size === undefined ? BigInt(Limits.forwardHeadKeep) : BigInt(source.size);
  if (length === 0 || offset + BigInt(length) > limit) return `(name at offset ${offset} unreadable)`;
  try {
    return JSON.stringify(text(await source.read(Number(offset), length)));
  } catch (error) {
    if (error instanceof DiskError) return `(name at offset ${offset} unreadable)`;
    throw error;
  }
}

function text(bytes: Uint8Array): string {
  return printable(Buffer.from(bytes).toString('utf8'));
}

/** Keeps hostile names from putting control characters into messages. */
function printable(value: string): string {
  return value.replace(/\0+$/, '').replace(/[\u0000-\u001f\u007f]/g, '?');
}

function bitsOf(mask: bigint): number[] {
  const bits: number[] = [];
  for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) bits.push(bit);
  return bits;
}

function hex(value: number): string {
  return value.toString(16).padStart(8, '0');
}
