/**
 * Sequential reading of a streamOptimized extent (formats.md 1.6, 1.7): walk the markers from `overHead` in file
 * order, inflate each grain and hand it out at its LBA. This needs neither the grain directory nor the footer, so it
 * works from a pipe, and on a file it turns thousands of small random reads into a few large sequential ones.
 *
 * On a random-access source the walk is checked against the grain tables as it goes (each grain must be the one
 * its table entry points at, and nothing the walk skips may hold data). At the first disagreement (grains out of
 * order, a stray marker, a grain the tables do not use) the rest of the disk is read through the tables instead,
 * so the result always equals what random reads give.
 */
import { DiskError } from '../../errors.js';
import { SpanEngine } from '../../image/spans.js';
import type { Extent } from '../../image/types.js';
import { Limits } from '../../limits.js';
import { ForwardSource } from '../../source/forward.js';
import type { ByteSource } from '../../source/types.js';
import type { SparseExtent } from './sparse.js';
import { GrainMarker, MarkerType, MetadataMarker, SECTOR } from './structs.js';

/** Grains being inflated at once (zlib runs them on libuv's thread pool); they are still handed out in order. */
const INFLATE_AHEAD = 32;
/** How much of the file one sequential read fetches. */
const READ_CHUNK = 4 * 1024 * 1024;

interface RawGrain {
  /** First guest sector of the grain (extent-relative). */
  readonly lba: number;
  /** File sector of its marker. */
  readonly sector: number;
  readonly compressed: Uint8Array;
}

/**
 * Buffered forward reads over a source through one reused buffer; `bytes` returns fewer bytes than asked only at
 * the end of the input, as a view valid until the next call. Reusing the buffer matters for memory: a fresh
 * multi-MiB buffer per read left the GC megabytes of garbage per read and the process tens of MiB above its need.
 */
class Cursor {
  private buffer = new Uint8Array(READ_CHUNK);
  /** The buffer holds file bytes [start, start + filled). */
  private start = 0;
  private filled = 0;

  constructor(private readonly source: ByteSource) {}

  async bytes(offset: number, length: number): Promise<Uint8Array> {
    if (offset < this.start || offset + length > this.start + this.filled) await this.refill(offset, length);
    const from = offset - this.start;
    return this.buffer.subarray(from, Math.min(from + length, this.filled));
  }

  /** Makes the buffer start at `offset` (keeping what it already holds from there) and hold `length` bytes or the rest of the input. */
  private async refill(offset: number, length: number): Promise<void> {
    const kept = offset >= this.start && offset < this.start + this.filled ? this.start + this.filled - offset : 0;
    if (length > this.buffer.length) {
      const larger = new Uint8Array(Math.max(length, READ_CHUNK));
      larger.set(this.buffer.subarray(this.filled - kept, this.filled));
      this.buffer = larger;
    } else {
      this.buffer.copyWithin(0, this.filled - kept, this.filled);
    }
    this.start = offset;
    this.filled = kept;
    while (this.filled < length) {
      const got = await this.fetch(this.start + this.filled, this.buffer.subarray(this.filled));
      if (got === 0) return;
      this.filled += got;
    }
  }

  /** Reads into `target` at `offset`; returns the bytes read, 0 at the end of the input. */
  private async fetch(offset: number, target: Uint8Array): Promise<number> {
    const { source } = this;
    if (source instanceof ForwardSource && source.size === undefined) return source.readSomeInto(offset, target);
    const size = source.size ?? Number.MAX_SAFE_INTEGER;
    const length = Math.min(target.length, size - offset);
    if (length <= 0) return 0;
    await source.readInto(offset, target.subarray(0, length));
    return length;
  }
}

/** The grains of the stream in file order; metadata markers are stepped over, EOS or the end of input stops. */
async function* walkMarkers(extent: SparseExtent): AsyncGenerator<RawGrain> {
  const { source, header, grainBytes } = extent;
  const cursor = new Cursor(source);
  const fail = (message: string, offset: number, field: string, code: 'CORRUPT_DATA' | 'LIMIT_EXCEEDED' | 'TRUNCATED' = 'CORRUPT_DATA'): never => {
    throw new DiskError(code, message, { file: source.name, format: 'vmdk', offset, field });
  };
  const capacity = BigInt(header.capacity);
  const maxCompressed = 2 * grainBytes;
  for (let position = header.overHead * SECTOR; ; ) {
    const sector = await cursor.bytes(position, SECTOR);
    if (sector.length < GrainMarker.size) return; // the end of the input ends the stream too
    const marker = GrainMarker.decode(sector);
    if (marker.size !== 0) {
      if (marker.size > maxCompressed) {
        fail(`grain marker claims ${marker.size} compressed bytes for a ${grainBytes}-byte grain`, position, 'grainMarker.size');
      }
      if (marker.lba >= capacity || marker.lba % BigInt(header.grainSectors) !== 0n) {
        fail(`grain marker names sector ${marker.lba}, not the start of a grain of this ${header.capacity}-sector extent`, position, 'grainMarker.lba');
      }
      const total = GrainMarker.size + marker.size;
      const bytes = await cursor.bytes(position, total);
      if (bytes.length < total) fail(`the input ends inside a grain (${total} bytes needed)`, position, 'grain data', 'TRUNCATED');
      // A copy: the cursor's buffer is reused while the grain waits its turn to be inflated.
      yield { lba: Number(marker.lba), sector: position / SECTOR, compressed: bytes.slice(GrainMarker.size) };
      position += Math.ceil(total / SECTOR) * SECTOR;
      continue;
    }
    if (sector.length < 16) return;
    const meta = MetadataMarker.decode(padSector(sector));
    if (meta.type === MarkerType.endOfStream) return;
    if (meta.type !== MarkerType.grainTable && meta.type !== MarkerType.grainDirectory && meta.type !== MarkerType.footer) {
      fail(`unknown marker type ${meta.type}`, position, 'marker.type');
    }
    if (meta.numSectors > BigInt(Limits.maxTableBytes / SECTOR)) {
      fail(`metadata marker of ${meta.numSectors} sectors exceeds ${Limits.maxTableBytes} bytes`, position, 'marker.numSectors', 'LIMIT_EXCEEDED');
    }
    position += SECTOR + Number(meta.numSectors) * SECTOR;
  }
}

function padSector(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= SECTOR) return bytes;
  const out = new Uint8Array(SECTOR);
  out.set(bytes);
  return out;
}

/**
 * Guest extents of a single-file streamOptimized disk, in order. `guestSize` is the disk size (the extent's
 * capacity); the grain directory, where loaded, checks the walk and takes over when the walk cannot be trusted.
 */
export async function* streamExtents(extent: SparseExtent, guestSize: number): AsyncGenerator<Extent> {
  const verify = extent.source.seekable && extent.hasMap;
  const { grainBytes } = extent;
  const window: { offset: number; length: number; data: Promise<Uint8Array> }[] = [];
  const walk = walkMarkers(extent);
  let covered = 0; // guest bytes before this are final (yielded or queued), checked against the tables when `verify`
  let previous = -1;
  let fallback = false;
  try {
    for (;;) {
      let next: IteratorResult<RawGrain>;
      try {
        next = await walk.next();
      } catch (error) {
        // A stray or damaged marker: on a file the tables still say where every grain is.
        if (verify && error instanceof DiskError && error.code !== 'BACKWARD_READ') {
          fallback = true;
          break;
        }
        throw error;
      }
      if (next.done) break;
      const grain = next.value;
      const guest = grain.lba * SECTOR;
      if (grain.lba <= previous) {
        if (verify) {
          fallback = true;
          break;
        }
        throw new DiskError(
          'CORRUPT_DATA',
          `grain for sector ${grain.lba} follows the grain for sector ${previous}: a stream must go forwards (read it from a file instead)`,
          { file: extent.source.name, format: 'vmdk', offset: grain.sector * SECTOR, field: 'grainMarker.lba' },
        );
      }
      const index = grain.lba / extent.header.grainSectors;
      if (verify && (!(await extent.holdsNoData(covered, guest)) || (await extent.entry(index)) !== grain.sector)) {
        fallback = true;
        break;
      }
      previous = grain.lba;
      const length = Math.min(grainBytes, guestSize - guest);
      const data = extent.inflateGrain(grain.compressed, index, grain.sector * SECTOR);
      data.catch(() => undefined); // awaited in order below; this only keeps an early rejection from going unhandled
      window.push({ offset: guest, length, data });
      covered = guest + length;
      if (window.length >= INFLATE_AHEAD) yield await settle(window.shift()!);
    }
    if (!fallback && verify && !(await extent.holdsNoData(covered, guestSize))) fallback = true;
    while (window.length > 0) yield await settle(window.shift()!);
  } finally {
    await walk.return(undefined);
  }
  if (!fallback) return;
  // Everything before `covered` was checked; the tables give the rest.
  const from = covered;
  const engine = new SpanEngine(
    async (offset) => (offset < from ? { kind: 'unallocated', length: from - offset } : extent.map(offset)),
    guestSize,
    { readAhead: INFLATE_AHEAD },
  );
  yield* engine.extents();
}

async function settle(entry: { offset: number; length: number; data: Promise<Uint8Array> }): Promise<Extent> {
  const data = await entry.data;
  return { offset: entry.offset, length: entry.length, data: data.length === entry.length ? data : data.subarray(0, entry.length) };
}
