/**
 * A gzip-declared OVA file (ovf:compression="gzip") as the stream of its inflated bytes. The inflated size is not
 * known in advance, so the disk reader gets a forward-only source of it, whatever the OVA's own source is.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DiskError } from '../../errors.js';

export const GZIP_MAGIC = [0x1f, 0x8b] as const;

export function hasGzipMagic(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
}

/** Inflates `input`. A zlib failure becomes `fail(reason)`; a DiskError from the input passes through as it is. */
export async function* gunzipChunks(input: AsyncIterable<Uint8Array>, fail: (reason: string) => DiskError): AsyncGenerator<Uint8Array> {
  // 1 MiB output chunks: zlib's 16 KiB default costs a thread-pool round trip per 16 KiB.
  const gunzip = createGunzip({ chunkSize: 1024 * 1024 });
  const upstream = Readable.from(input, { objectMode: false });
  upstream.on('error', (error) => gunzip.destroy(error));
  upstream.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Uint8Array;
  } catch (error) {
    if (error instanceof DiskError) throw error;
    throw fail(error instanceof Error ? error.message : String(error));
  } finally {
    upstream.unpipe(gunzip);
    upstream.destroy();
    gunzip.destroy();
  }
}
