/**
 * streamOptimized output in the full layout VMware's tools write and ESXi expects (formats.md 1.6): header with
 * gdOffset = GD_AT_END, embedded descriptor, then compressed grains in guest order, each grain table behind the
 * grains it covers (GT marker + table), then the GD marker + grain directory, the footer marker + footer (the
 * header again, with the real gdOffset) and the end-of-stream marker. Everything is appended, never patched, so the
 * output can go to a pipe or an upload as it is made.
 *
 * Deflate is the cost (qemu-img does it on one thread); here batches of grains are deflated on the worker pool,
 * several batches in flight, and written in order as they come back.
 */
import { DiskError } from '../../errors.js';
import { dataBlocks } from '../../image/blocks.js';
import type { DiskImage } from '../../image/types.js';
import type { OutputPiece } from '../../image/writer.js';
import { encodedBound, type EncodedGrains } from './grain.js';
import { MarkerType, MetadataMarker, SECTOR, GD_AT_END } from './structs.js';
import {
  DESCRIPTOR_END_SECTOR, GRAIN_BYTES, GRAIN_SECTORS, GT_BYTES, GTES_PER_GT, MAX_FILE_SECTORS, encodeHeader,
  headerAndDescriptor, littleEndian, sectorPadded, type SparseLayout,
} from './layout.js';

/**
 * Guest bytes per deflate task: 16 grains. Big enough that the thread hop is small next to deflating it, small
 * enough that a few per worker keep every core busy; it divides a grain table's 32 MiB, so a batch never spans two.
 */
const BATCH_BYTES = 1024 * 1024;
/** Batches in flight per worker: one running, the rest queued, so a worker never waits on the main thread. */
const IN_FLIGHT_PER_WORKER = 4;
/** The first grain starts one grain in, after the header and the descriptor. */
const OVERHEAD_SECTORS = GRAIN_SECTORS;

export async function* writeStreamOptimized(image: DiskImage, layout: SparseLayout, workers: number): AsyncGenerator<OutputPiece> {
  const { setPoolThreads, runTask } = await import('../../workers/pool.js');
  await setPoolThreads(workers);
  const buffers = new BatchBuffers();
  const deflate = (index: number, block: Uint8Array): Promise<Deflated> => {
    // Copied into a buffer the worker can own: the block is a reused buffer of the reader's.
    const { data, output } = buffers.take();
    const batch = data.subarray(0, Math.min(block.length, layout.capacity * SECTOR - index * BATCH_BYTES));
    batch.set(block.subarray(0, batch.length));
    const firstGrain = (index * BATCH_BYTES) / GRAIN_BYTES;
    return runTask('deflateGrains', { data: batch, output, firstLba: firstGrain * GRAIN_SECTORS, grainBytes: GRAIN_BYTES }, {
      transferList: [data.buffer, output.buffer],
    }).then((encoded) => ({ firstGrain, encoded }));
  };
  const tables = new GrainTables(layout);
  const place = function* (deflated: Deflated): Generator<OutputPiece> {
    yield* tables.place(deflated);
    buffers.give(deflated.encoded); // the consumer has moved past the pieces that pointed into it
  };

  yield { kind: 'data', data: headerAndDescriptor(layout, GD_AT_END, OVERHEAD_SECTORS) };
  yield { kind: 'zeros', length: (OVERHEAD_SECTORS - DESCRIPTOR_END_SECTOR) * SECTOR };
  const inFlight: Promise<Deflated>[] = [];
  for await (const block of dataBlocks(image, BATCH_BYTES)) {
    const pending = deflate(block.index, block.data);
    pending.catch(() => undefined); // awaited in order below; this only keeps an early failure from going unhandled
    inFlight.push(pending);
    if (inFlight.length >= workers * IN_FLIGHT_PER_WORKER) yield* place(await inFlight.shift()!);
  }
  while (inFlight.length > 0) yield* place(await inFlight.shift()!);
  yield* tables.finish();
}

/**
 * The buffers of the batches: each goes to a worker with its batch and comes back with the result, to be used
 * again, so a conversion allocates them once (as many as are in flight, plus the one being written) instead of
 * leaving the GC megabytes of garbage per batch on both threads.
 */
class BatchBuffers {
  private readonly free: BatchBuffer[] = [];

  take(): BatchBuffer {
    return this.free.pop() ?? { data: new Uint8Array(BATCH_BYTES), output: new Uint8Array(encodedBound(BATCH_BYTES, GRAIN_BYTES)) };
  }

  give(encoded: EncodedGrains): void {
    // Back from the worker they are plain ArrayBuffers again (a transfer never yields a shared one).
    this.free.push({ data: new Uint8Array(encoded.data.buffer as ArrayBuffer), output: new Uint8Array(encoded.output.buffer as ArrayBuffer) });
  }
}

interface BatchBuffer {
  data: Uint8Array<ArrayBuffer>;
  output: Uint8Array<ArrayBuffer>;
}

interface Deflated {
  readonly firstGrain: number;
  readonly encoded: EncodedGrains;
}

/** Tracks where each grain lands and emits the grain tables, directory, footer and end marker around them. */
class GrainTables {
  /** The next free sector of the output. */
  private sector = OVERHEAD_SECTORS;
  private readonly directory: Uint32Array;
  private table = new Uint32Array(GTES_PER_GT);
  private tableIndex = -1;

  constructor(private readonly layout: SparseLayout) {
    this.directory = new Uint32Array(layout.gdEntries);
  }

  /** The batch's grains, after the table of the previous 32 MiB when the batch starts a new one. */
  *place({ firstGrain, encoded }: Deflated): Generator<OutputPiece> {
    if (encoded.length === 0) return; // every grain of the batch was zeros
    const tableIndex = Math.floor(firstGrain / GTES_PER_GT);
    if (tableIndex !== this.tableIndex) {
      yield* this.flushTable();
      this.tableIndex = tableIndex;
    }
    encoded.sectors.forEach((sectors, index) => {
      if (sectors === 0) return;
      this.table[(firstGrain + index) % GTES_PER_GT] = this.sector;
      this.advance(sectors);
    });
    yield { kind: 'data', data: encoded.output.subarray(0, encoded.length) };
  }

  /** The last table, the directory, the footer and the end-of-stream marker. */
  *finish(): Generator<OutputPiece> {
    yield* this.flushTable();
    const directoryBytes = sectorPadded(littleEndian(this.directory));
    yield* this.metadata(MarkerType.grainDirectory, directoryBytes);
    const gdSector = this.sector - directoryBytes.length / SECTOR;
    yield* this.metadata(MarkerType.footer, encodeHeader(this.layout, BigInt(gdSector), OVERHEAD_SECTORS));
    yield* this.metadata(MarkerType.endOfStream, new Uint8Array(0));
  }

  private *flushTable(): Generator<OutputPiece> {
    if (this.tableIndex < 0) return;
    const tableBytes = littleEndian(this.table);
    yield* this.metadata(MarkerType.grainTable, tableBytes);
    this.directory[this.tableIndex] = this.sector - GT_BYTES / SECTOR;
    this.table = new Uint32Array(GTES_PER_GT);
    this.tableIndex = -1;
  }

  /** A metadata marker sector, then the metadata (whole sectors). */
  private *metadata(type: number, body: Uint8Array): Generator<OutputPiece> {
    const sectors = body.length / SECTOR;
    yield { kind: 'data', data: MetadataMarker.encode({ numSectors: BigInt(sectors), size: 0, type }) };
    this.advance(1);
    if (sectors > 0) yield { kind: 'data', data: body };
    this.advance(sectors);
  }

  private advance(sectors: number): void {
    this.sector += sectors;
    if (this.sector > MAX_FILE_SECTORS) {
      throw new DiskError('LIMIT_EXCEEDED', 'the streamOptimized file would pass 2 TiB, past what 32-bit grain-table entries can address', {
        format: 'vmdk',
      });
    }
  }
}

