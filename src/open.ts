import { DiskError, asDiskError } from './errors.js';
import { FORMATS, FORMAT_NAMES, formatByName } from './formats/index.js';
import type { DiskImage, OpenOptions, Probe } from './image/types.js';
import { ForwardSource } from './source/forward.js';
import { openSource } from './source/open.js';
import type { ByteSource } from './source/types.js';

/** Bytes read from the start for detection. */
const PROBE_HEAD = 64 * 1024;

export interface OpenImageOptions extends OpenOptions {
  /** Skip detection and use this reader (e.g. `vhd` for a fixed VHD arriving through a pipe). */
  format?: string;
}

/**
 * Opens a path (`-` for stdin) or a ByteSource and returns the image its format reader makes of it.
 * The source is closed again if opening fails.
 */
export async function openImage(input: string | ByteSource, options: OpenImageOptions = {}): Promise<DiskImage> {
  const source = typeof input === 'string' ? await openSource(input, options) : input;
  try {
    return await openProbed(source, await probeSource(source), options);
  } catch (error) {
    await source.close().catch(() => undefined);
    throw asDiskError(error, source.name);
  }
}

/** Opens a source already probed (callers that look at the probe first, e.g. for an OVA, read the head once). */
export async function openProbed(source: ByteSource, probe: Probe, options: OpenImageOptions = {}): Promise<DiskImage> {
  const format = options.format === undefined ? FORMATS.find((f) => f.detect(probe)) : formatByName(options.format);
  if (format === undefined) {
    throw new DiskError('USAGE', `unknown format ${JSON.stringify(options.format)} (one of ${FORMAT_NAMES.join(', ')})`);
  }
  return format.open(source, options);
}

/** The first bytes (and, for a file, the last 512) that detection looks at. */
export async function probeSource(source: ByteSource): Promise<Probe> {
  const head = await readHead(source);
  if (head.length === 0) throw new DiskError('EMPTY_IMAGE', 'the file is empty', { file: source.name, offset: 0 });
  const size = source.size;
  const tail = size !== undefined && size >= 512 && source.seekable ? await source.read(size - 512, 512) : undefined;
  return { head, tail, size, name: source.name };
}

async function readHead(source: ByteSource): Promise<Uint8Array> {
  if (source.size !== undefined) return source.read(0, Math.min(source.size, PROBE_HEAD));
  if (source instanceof ForwardSource) return source.readSome(0, PROBE_HEAD);
  throw new DiskError('INTERNAL', 'a source of unknown size must be forward-only', { file: source.name });
}
