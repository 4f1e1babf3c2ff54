/**
 * The ClientToken diskport gives an import when the caller gives none: derived from what is imported (the
 * content hash), where it lies (the S3 objects) and how it is imported (every parameter), so running the same
 * import again sends the same token and EC2 hands back the first task instead of starting a second one, while
 * any change (another file, bucket, boot mode, tag) makes a new token. The upload's times are left out: they
 * describe the upload, not the import, and a rerun that finds the object already uploaded reuses them anyway.
 */
import { createHash } from 'node:crypto';
import type { ImportImageInput } from './request.js';

const PREFIX = 'diskport-';
/** 40 hex digits of SHA-256 (160 bits) after the prefix: 49 characters, under EC2's 64. */
const DIGITS = 40;

export interface TokenParts {
  /** Each disk's content identity: the xxh64 diskport stored, or the object's ETag. */
  contents: string[];
  request: ImportImageInput;
}

export function deriveClientToken({ contents, request }: TokenParts): string {
  const { ClientToken: _token, DryRun: _dryRun, ClientData, ...parameters } = request;
  const { UploadStart: _start, UploadEnd: _end, ...clientData } = ClientData ?? {};
  const identity = canonical({ contents, parameters, clientData });
  return PREFIX + createHash('sha256').update(identity).digest('hex').slice(0, DIGITS);
}

/** JSON with object keys sorted at every level, so the same parameters always hash alike. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, field]) => field !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonical(field)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
