/**
 * How an object is cut into multipart parts, within S3's limits: parts of 5 MiB to 5 GiB (the last may be
 * smaller), at most 10,000 of them, objects up to 5 TiB. Everything is checked before the first request, so an
 * object that cannot fit fails at once with the numbers that would make it fit.
 */
import { DiskError } from '../errors.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const S3Limits = {
  minPartSize: 5 * MiB,
  maxPartSize: 5 * GiB,
  maxParts: 10_000,
  maxObjectSize: 5 * 1024 * GiB,
} as const;

/** Parts this big keep the request count low without making a retry costly. */
export const DEFAULT_PART_SIZE = 16 * MiB;
export const DEFAULT_CONCURRENCY = 8;
/** Memory the part buffers may take when the concurrency is not given (big objects need big parts). */
const DEFAULT_BUFFER_BUDGET = GiB;
const MAX_CONCURRENCY = 64;

export interface PartPlan {
  partSize: number;
  concurrency: number;
  /** How many parts the object takes; undefined when the size is not known ahead (a stream). */
  parts: number | undefined;
}

export interface PartPlanRequest {
  /** The object's size; undefined for a stream of unknown length. */
  size: number | undefined;
  /** For a stream: the most it can amount to (a converted disk's bound), to size the parts for it. */
  expectedSize?: number;
  partSize?: number;
  concurrency?: number;
  /** The source's name, for messages. */
  name: string;
}

/**
 * Part size: the one asked for, or the default grown (in whole MiB) until the object fits in 10,000 parts.
 * Concurrency: the one asked for, or the default lowered so the part buffers stay within 1 GiB.
 */
export function planParts(request: PartPlanRequest): PartPlan {
  const { size, name } = request;
  const bound = size ?? request.expectedSize;
  if (bound !== undefined && bound > S3Limits.maxObjectSize) {
    throw new DiskError('UPLOAD_TOO_LARGE', `${bound} bytes is more than S3's largest object (5 TiB)`, { file: name });
  }
  const partSize = request.partSize ?? defaultPartSize(bound);
  checkPartSize(partSize);
  if (bound !== undefined && partCount(bound, partSize) > S3Limits.maxParts) {
    const smallest = Math.ceil(bound / S3Limits.maxParts / MiB) * MiB;
    throw new DiskError(
      'UPLOAD_TOO_LARGE',
      `${bound} bytes in parts of ${partSize} bytes needs ${partCount(bound, partSize)} parts, more than S3's 10,000: ` +
        `use --part-size ${smallest / MiB}MiB or more`,
      { file: name },
    );
  }
  const concurrency = request.concurrency ?? Math.max(1, Math.min(DEFAULT_CONCURRENCY, Math.floor(DEFAULT_BUFFER_BUDGET / partSize)));
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw new DiskError('USAGE', `concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}, not ${JSON.stringify(request.concurrency)}`);
  }
  return { partSize, concurrency, parts: size === undefined ? undefined : partCount(size, partSize) };
}

/** An empty object still takes one (empty) part. */
export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

function defaultPartSize(bound: number | undefined): number {
  if (bound === undefined) return DEFAULT_PART_SIZE;
  return Math.max(DEFAULT_PART_SIZE, Math.ceil(bound / S3Limits.maxParts / MiB) * MiB);
}

function checkPartSize(partSize: number): void {
  if (!Number.isSafeInteger(partSize) || partSize < S3Limits.minPartSize || partSize > S3Limits.maxPartSize) {
    throw new DiskError('USAGE', `part size must be from 5 MiB to 5 GiB, not ${JSON.stringify(partSize)} bytes`);
  }
}

const UNITS: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: MiB, mib: MiB, g: GiB, gib: GiB };

/** "16MiB", "16m", "1GiB", "8388608": a byte count (binary units, as the AWS CLI's multipart_chunksize). */
export function parseByteSize(text: string, option: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match === null ? undefined : UNITS[match[2]!.toLowerCase()];
  if (match === null || unit === undefined) {
    throw new DiskError('USAGE', `${option} takes a size such as 16MiB, 1GiB or a byte count, not ${JSON.stringify(text)}`);
  }
  return Number(match[1]) * unit;
}
