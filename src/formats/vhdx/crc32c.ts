/**
 * CRC-32C (Castagnoli), the checksum MS-VHDX uses for headers, region tables and log entries: reflected
 * polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF. Node 20 has no built-in, so this is a
 * slicing-by-8 table implementation (eight 256-entry tables, 8 KiB): fast enough for 64 KiB region tables.
 */

const POLY = 0x82f63b78;

/** TABLES[k][b]: the CRC of byte b followed by k zero bytes, so eight bytes fold in one step. */
const TABLES: Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const first = tables[0]!;
  for (let b = 0; b < 256; b++) {
    let crc = b;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLY : crc >>> 1;
    first[b] = crc >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    const previous = tables[k - 1]!;
    const table = tables[k]!;
    for (let b = 0; b < 256; b++) table[b] = ((previous[b]! >>> 8) ^ first[previous[b]! & 0xff]!) >>> 0;
  }
  return tables;
}

/** CRC-32C of `bytes` (continuing from `previous`, the finished CRC of earlier bytes, when given). */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let crc = ~previous >>> 0;
  let i = 0;
  const end8 = bytes.length - (bytes.length % 8);
  for (; i < end8; i += 8) {
    const low = (crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    crc =
      t7[low & 0xff]! ^ t6[(low >>> 8) & 0xff]! ^ t5[(low >>> 16) & 0xff]! ^ t4[low >>> 24]! ^
      t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) crc = t0[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/**
 * The checksum of a VHDX structure whose own 4-byte checksum field sits at `fieldOffset`: computed as if that
 * field were zero, without copying the structure.
 */
export function crc32cWithZeroedField(bytes: Uint8Array, fieldOffset: number): number {
  let crc = crc32c(bytes.subarray(0, fieldOffset));
  crc = crc32c(new Uint8Array(4), crc);
  return crc32c(bytes.subarray(fieldOffset + 4), crc);
}
