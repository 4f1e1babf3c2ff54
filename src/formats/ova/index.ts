/**
 * OVA: a tar holding an OVF descriptor, an optional manifest and certificate, and disk files (formats.md 6). Not a
 * disk format itself: readOva lists the package, parses the OVF and manifest, and hands each disk entry to a visitor
 * that opens it with the ordinary readers. Random-access sources hop tar headers (ova/tar.ts); pipes stream through
 * tar-stream (ova/stream.ts).
 */
import type { Probe } from '../../image/types.js';
import type { ByteSource } from '../../source/types.js';
import { BLOCK, isTarHeader } from './tar.js';
import type { OvaReadOptions, OvaResult } from './types.js';

export type {
  ManifestAlgorithm,
  ManifestLine,
  OvaDiskVisit,
  OvaReadOptions,
  OvaResult,
  OvfDescriptor,
  OvfDisk,
  OvfFile,
  TarEntry,
  Verification,
} from './types.js';

export const ova = {
  name: 'ova',
  /** A ustar (POSIX or GNU) magic at 257 and a valid header checksum in the first block. */
  detect(probe: Probe): boolean {
    return probe.head.length >= BLOCK && isTarHeader(probe.head.subarray(0, BLOCK));
  },
} as const satisfies { name: 'ova'; detect(probe: Probe): boolean };

/**
 * Reads an OVA: its entries, OVF and manifest, and one visitDisk call per disk file. Hostile content throws a
 * DiskError (format 'ova'); a manifest that disagrees is returned in `verification`, not thrown.
 */
export async function readOva<T>(source: ByteSource, options: OvaReadOptions<T>): Promise<OvaResult<T>> {
  // Loaded on first use: the XML parser and tar-stream cost ~50 ms of start-up that disk-only runs (and every
  // worker thread of a many-image check) need not pay.
  if (source.seekable) return (await import('./random.js')).readOvaRandom(source, options);
  return (await import('./stream.js')).readOvaStream(source, options);
}
