/**
 * The guest bytes of an image, what `qemu-img convert -O raw` writes: the RAW writer's output through the same sinks
 * as every conversion. To a file, unallocated and all-zero runs become holes (a sparse file), so a 2 TiB sparse image
 * costs what it holds; to a stream they are real zeros.
 */
import { convert, convertToFile, convertToStream, type ConvertOptions } from './convert/index.js';
import type { DiskImage } from './image/types.js';

/** RAW needs no compression threads. */
const RAW: ConvertOptions = { to: 'raw', workers: 1 };

/** Every guest byte in order (a RAW pipe of unknown length: to its end); a chunk is valid until the next step. */
export function guestBytes(image: DiskImage): AsyncIterable<Uint8Array> {
  return convert(image, RAW);
}

/** Writes the guest bytes to a sparse file. Returns the bytes of data written (holes left out). */
export async function writeGuestFile(image: DiskImage, path: string): Promise<number> {
  return (await convertToFile(image, path, RAW)).dataBytes;
}

/** Writes the guest bytes to a stream, waiting until each chunk is handed off before reusing its buffer. */
export async function writeGuestStream(image: DiskImage, stream: NodeJS.WritableStream): Promise<void> {
  await convertToStream(image, stream, RAW);
}
