import { DiskError } from '../errors.js';
import { Limits } from '../limits.js';
import type { ByteSource } from './types.js';

export interface RangeContext {
  format: string;
  field: string;
  /** Named maximum for the length (defaults to Limits.maxRead). */
  max?: number;
}

/**
 * Checks a (offset, length) pair taken from a file before it is used: non-negative integers, length under its
 * named maximum, and the range inside the source when its size is known.
 */
export function checkRange(source: ByteSource, offset: number, length: number, context: RangeContext): void {
  const max = context.max ?? Limits.maxRead;
  const details = { file: source.name, format: context.format, field: context.field, offset };
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new DiskError('BAD_HEADER', `${context.field}: invalid range (offset ${offset}, length ${length})`, details);
  }
  if (length > max) {
    throw new DiskError('LIMIT_EXCEEDED', `${context.field}: ${length} bytes exceeds the maximum of ${max}`, details);
  }
  if (source.size !== undefined && offset + length > source.size) {
    throw new DiskError(
      'OFFSET_OUT_OF_RANGE',
      `${context.field}: bytes ${offset}..${offset + length} lie past the end of the ${source.size}-byte file`,
      details,
    );
  }
}

/** checkRange, then read. */
export async function readChecked(
  source: ByteSource,
  offset: number,
  length: number,
  context: RangeContext,
): Promise<Uint8Array> {
  checkRange(source, offset, length, context);
  return source.read(offset, length);
}

/** The cap every source applies to a single read, whatever asked for it. */
export function checkReadLength(name: string, offset: number, length: number): void {
  if (length > Limits.maxRead) {
    throw new DiskError('LIMIT_EXCEEDED', `read of ${length} bytes exceeds the maximum of ${Limits.maxRead}`, {
      file: name,
      offset,
    });
  }
}
