/**
 * Inspection of a forward-only image (a pipe, a disk streamed out of an OVA). The partition table, file-system and
 * ESP readers need random reads, which a pipe cannot give; but they read only a few known places. One pass over
 * the image's extents keeps just those byte windows: the first MiB (MBR, primary GPT, early partitions), the last
 * MiB (backup GPT), the head of every partition (superblocks), and the start of each EFI System Partition (FAT,
 * directories, loaders). The readers then run over an image made of the windows; a read outside them fails with
 * NOT_SEEKABLE, so an answer is never guessed from bytes that were not kept. Memory: the windows, at most
 * CaptureLimits.totalBytes, whatever the image size.
 */
import { DiskError } from '../errors.js';
import { isEspType, readPartitionTable, type Partition } from '../partitions/index.js';
import type { ByteSource } from '../source/types.js';
import type { DiskImage, Extent } from './types.js';

export const CaptureLimits = {
  /** MBR, GPT header and entries (16 KiB), and partitions that start in the first MiB. */
  headBytes: 1024 * 1024,
  /** The backup GPT: header in the last sector, entries just before it. */
  tailBytes: 1024 * 1024,
  /** Enough for every superblock detectFilesystem reads (btrfs at 64 KiB is the farthest). */
  partitionHeadBytes: 128 * 1024,
  /** FAT, root and \EFI\BOOT directories and the loaders' first KiB sit near an ESP's start. */
  espBytes: 32 * 1024 * 1024,
  /** All windows together (partition heads past this are not kept). */
  totalBytes: 96 * 1024 * 1024,
} as const;

interface Window {
  readonly start: number;
  readonly bytes: Uint8Array;
}

/** Streams `image` once and returns an image that answers reads inside the kept windows. Closes nothing. */
export async function captureWindows(image: DiskImage, drain: () => Promise<number>): Promise<DiskImage> {
  const windows = new WindowSet();
  windows.add(0, CaptureLimits.headBytes, image.virtualSize);
  if (image.virtualSize !== undefined) {
    windows.add(Math.max(0, image.virtualSize - CaptureLimits.tailBytes), CaptureLimits.tailBytes, image.virtualSize);
  }
  const tail = image.virtualSize === undefined ? new RollingTail(CaptureLimits.tailBytes) : undefined;
  let planned = false;
  for await (const extent of image.extents()) {
    windows.fill(extent);
    tail?.push(extent);
    if (!planned && extent.offset + extent.length >= CaptureLimits.headBytes) {
      planned = true;
      await planPartitionWindows(image, windows, image.virtualSize);
      windows.fill(extent); // the extent that crossed the head may reach into the new windows too
    }
  }
  const size = image.virtualSize ?? (await drain());
  if (tail !== undefined) windows.addFilled(tail.window(size));
  if (!planned) await planPartitionWindows(image, windows, size); // a disk smaller than the head: all of it is there
  return windowImage(image, windows, size, 'strict');
}

/**
 * Reads the partition table from the head window alone (anything else reads as zeros here: only the partition
 * starts matter now, not the backup GPT's verdict) and adds a window at each partition's head and ESP.
 */
async function planPartitionWindows(image: DiskImage, windows: WindowSet, size: number | undefined): Promise<void> {
  const lenient = windowImage(image, windows, size ?? Number.MAX_SAFE_INTEGER, 'zeros');
  let partitions: Partition[];
  try {
    partitions = (await readPartitionTable(lenient)).partitions;
  } catch {
    return; // no readable table: the head window still answers for a bare file system
  }
  for (const partition of partitions) {
    const bytes = isEspType(partition.type) ? CaptureLimits.espBytes : CaptureLimits.partitionHeadBytes;
    windows.add(partition.start, Math.min(bytes, partition.size), size);
  }
}

/** Byte windows over the guest, filled as extents pass; zero-initialised, as unallocated guest bytes read. */
class WindowSet {
  readonly list: Window[] = [];
  private total = 0;
  /** Guest offset up to which extents have been seen. */
  private position = 0;

  /** Adds [start, start + length) clipped to the disk; what the stream has already passed is copied from windows that hold it. */
  add(start: number, length: number, size: number | undefined): void {
    const end = Math.min(start + length, size ?? Number.MAX_SAFE_INTEGER);
    if (end <= start || this.list.some((w) => w.start <= start && start + (end - start) <= w.start + w.bytes.length)) return;
    if (this.total + (end - start) > CaptureLimits.totalBytes) return;
    const window = { start, bytes: new Uint8Array(end - start) };
    if (start < this.position) for (const held of this.list) copyOverlap(held.start, held.bytes, window);
    this.list.push(window);
    this.total += window.bytes.length;
  }

  addFilled(window: Window): void {
    this.list.push(window);
  }

  fill(extent: Extent): void {
    this.position = Math.max(this.position, extent.offset + extent.length);
    if (extent.zero) return;
    for (const window of this.list) copyOverlap(extent.offset, extent.data, window);
  }
}

function copyOverlap(sourceStart: number, source: Uint8Array, window: Window): void {
  const from = Math.max(sourceStart, window.start);
  const to = Math.min(sourceStart + source.length, window.start + window.bytes.length);
  if (to > from) window.bytes.set(source.subarray(from - sourceStart, to - sourceStart), from - window.start);
}

/**
 * The last `capacity` guest bytes of an image whose size is learned only at its end (a RAW pipe): a ring indexed by
 * guest offset. Each extent writes only its last `capacity` bytes, so streaming costs a copy of at most that much
 * per extent, not of the whole disk.
 */
class RollingTail {
  private readonly ring: Uint8Array;
  /** Guest offset just past the last byte written. */
  private end = 0;

  constructor(private readonly capacity: number) {
    this.ring = new Uint8Array(capacity);
  }

  push(extent: Extent): void {
    if (extent.offset > this.end) this.write(this.end, extent.offset - this.end, undefined); // unallocated: zeros
    this.write(extent.offset, extent.length, extent.zero ? undefined : extent.data);
    this.end = Math.max(this.end, extent.offset + extent.length);
  }

  /** Writes the last `capacity` bytes of [offset, offset + length) (zeros when `data` is undefined). */
  private write(offset: number, length: number, data: Uint8Array | undefined): void {
    const skip = Math.max(0, length - this.capacity);
    for (let done = skip; done < length; ) {
      const at = (offset + done) % this.capacity;
      const run = Math.min(length - done, this.capacity - at);
      if (data === undefined) this.ring.fill(0, at, at + run);
      else this.ring.set(data.subarray(done, done + run), at);
      done += run;
    }
  }

  window(size: number): Window {
    if (size > this.end) this.write(this.end, size - this.end, undefined); // the stream ended in unallocated bytes
    const start = Math.max(0, size - this.capacity);
    const bytes = new Uint8Array(size - start);
    const at = start % this.capacity;
    const first = this.ring.subarray(at, Math.min(this.capacity, at + bytes.length));
    bytes.set(first);
    bytes.set(this.ring.subarray(0, bytes.length - first.length), first.length);
    return { start, bytes };
  }
}

/**
 * The image as the kept windows show it. 'strict': a read outside them is NOT_SEEKABLE; 'zeros': it reads zeros
 * (planning only).
 */
function windowImage(image: DiskImage, windows: WindowSet, size: number, outside: 'strict' | 'zeros'): DiskImage {
  const read = async (offset: number, length: number): Promise<Uint8Array> => {
    const window = windows.list.find((w) => offset >= w.start && offset + length <= w.start + w.bytes.length);
    if (window !== undefined) return window.bytes.slice(offset - window.start, offset - window.start + length);
    if (outside === 'zeros') return new Uint8Array(length);
    throw new DiskError('NOT_SEEKABLE', `a streamed inspection kept no bytes at guest offset ${offset}`, {
      file: image.source.name,
      offset,
    });
  };
  return {
    format: image.format,
    subformat: image.subformat,
    virtualSize: size,
    allocatedSize: image.allocatedSize,
    details: image.details,
    source: image.source,
    randomAccess: true,
    extents: () => {
      throw new DiskError('INTERNAL', 'the windows of a streamed inspection have no extents');
    },
    read,
    close: async () => undefined,
  };
}

/**
 * The kept windows as a random-access ByteSource (reads outside them are NOT_SEEKABLE), so a reader can reopen
 * what streamed past: a fixed VHD's footer comes last, so a pipe learns only at its end that it was one.
 */
export function windowSource(windows: DiskImage): ByteSource {
  return {
    name: windows.source.name,
    size: windows.virtualSize,
    seekable: true,
    get bytesRead() {
      return windows.source.bytesRead;
    },
    read: (offset, length) => windows.read(offset, length),
    readInto: async (offset, target) => target.set(await windows.read(offset, target.length)),
    close: async () => undefined,
  };
}
