/**
 * Decompressing one zstd-compressed unit: a qcow2 cluster of an image whose compression_type is zstd. Node 20's
 * zlib has no zstd (it came in Node 22.15), so the decoding is fzstd's; the checks around it are ours.
 *
 * qemu writes each cluster as one zstd frame (RFC 8878) that declares its content size, and the cluster's bytes
 * run on to the end of its last sector, where the next cluster may already start. So the frame is measured first,
 * by walking its block headers, and only its own bytes are decoded. fzstd allocates the window the frame header
 * declares, so that header is checked before fzstd sees it: the content size must be exactly the unit's and the
 * window at most MAX_WINDOW. The decoded bytes are counted as they come out, so a frame that makes more or fewer
 * bytes than it declared is an error, never a silently zero-padded cluster.
 */
import { Decompress } from 'fzstd';

export interface ZstdUnitOptions {
  /** The unit's size: what the frame must declare and decode to. */
  unitBytes: number;
  /** Makes the caller's DiskError (with its offset and field) from the reason. */
  fail: (reason: string) => Error;
}

const FRAME_MAGIC = 0xfd2fb528;
/** RFC 8878 3.1.1.2: no block regenerates or holds more than 128 KiB. */
const MAX_BLOCK_BYTES = 128 * 1024;
/** The largest window accepted from a frame header (what fzstd allocates); qemu's frames declare the cluster size. */
const MAX_WINDOW = 8 * 1024 * 1024;
const BlockType = { raw: 0, rle: 1, compressed: 2, reserved: 3 } as const;

/** The unit's bytes, decoded from the zstd frame at the start of `compressed`; throws `fail(reason)` otherwise. */
export function decompressZstdUnit(compressed: Uint8Array, options: ZstdUnitOptions): Uint8Array {
  const frame = compressed.subarray(0, measureFrame(compressed, options));
  const out = new Uint8Array(options.unitBytes);
  let produced = 0;
  let overflowed = false;
  const decoder = new Decompress((chunk) => {
    overflowed = produced + chunk.length > out.length;
    if (overflowed) throw new RangeError('overflow'); // stops fzstd; reported below
    out.set(chunk, produced);
    produced += chunk.length;
  });
  try {
    decoder.push(frame, true);
  } catch (error) {
    if (overflowed) throw options.fail(`the frame decodes to more than its ${out.length} bytes`);
    throw options.fail(`zstd: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (produced !== out.length) throw options.fail(`the frame decodes to ${produced} bytes, not ${out.length}`);
  return out;
}

/** The length of the frame at the start of `bytes` (header, blocks, checksum), after checking its header. */
function measureFrame(bytes: Uint8Array, options: ZstdUnitOptions): number {
  const fail = options.fail;
  if (bytes.length < 6 || new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) !== FRAME_MAGIC) {
    throw fail('no zstd frame magic');
  }
  const descriptor = bytes[4]!;
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const hasChecksum = (descriptor >> 2) & 1;
  if (descriptor & 0x08) throw fail('the frame header has its reserved bit set');
  if (descriptor & 0x03) throw fail('the frame needs a dictionary');
  const contentSizeBytes = [singleSegment, 2, 4, 8][contentSizeFlag]!;
  if (contentSizeBytes === 0) throw fail('the frame does not declare its content size');
  let at = 5;
  if (!singleSegment) {
    const window = windowSize(bytes[at]!);
    if (window > MAX_WINDOW) throw fail(`the frame's ${window}-byte window exceeds the maximum of ${MAX_WINDOW}`);
    at += 1;
  }
  if (at + contentSizeBytes > bytes.length) throw fail('the frame header is cut short');
  const contentSize = readContentSize(bytes, at, contentSizeBytes);
  if (contentSize !== options.unitBytes) throw fail(`the frame declares ${contentSize} bytes, not ${options.unitBytes}`);
  at += contentSizeBytes;
  for (let last = false; !last; ) {
    if (at + 3 > bytes.length) throw fail(`the frame ends inside a block header at byte ${at}`);
    const header = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
    at += 3;
    last = (header & 1) === 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === BlockType.reserved) throw fail(`block at byte ${at - 3} has the reserved type`);
    if (size > MAX_BLOCK_BYTES) throw fail(`block at byte ${at - 3} claims ${size} bytes, over zstd's ${MAX_BLOCK_BYTES}`);
    at += type === BlockType.rle ? 1 : size;
    if (at > bytes.length) throw fail(`the frame runs past the ${bytes.length} bytes of the compressed cluster`);
  }
  at += hasChecksum * 4;
  if (at > bytes.length) throw fail('the frame checksum is cut short');
  return at;
}

/** RFC 8878 3.1.1.1.2: 2^(10 + exponent) plus eighths of it. */
function windowSize(descriptor: number): number {
  const base = 2 ** (10 + (descriptor >> 3));
  return base + (base / 8) * (descriptor & 7);
}

/** Frame_Content_Size, little-endian; the 2-byte form is offset by 256. */
function readContentSize(bytes: Uint8Array, at: number, length: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, length);
  if (length === 1) return view.getUint8(0);
  if (length === 2) return view.getUint16(0, true) + 256;
  if (length === 4) return view.getUint32(0, true);
  return Number(view.getBigUint64(0, true));
}
