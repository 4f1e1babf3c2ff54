/**
 * `s3://bucket/key` names: parsed and checked before any request, so a typo fails with a message that echoes
 * it rather than with a server error about something else.
 */
import { DiskError } from '../errors.js';

export interface S3Target {
  bucket: string;
  key: string;
}

/** S3's bucket naming rules: 3-63 characters, lowercase letters, digits, dots and hyphens, alphanumeric ends. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_ADDRESS = /^\d+\.\d+\.\d+\.\d+$/;
/** The longest key S3 accepts, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

export function isS3Url(text: string): boolean {
  return text.startsWith('s3://');
}

/**
 * Parses `s3://bucket/key`. With `fileName`, a key that is empty or ends in `/` gets the file name appended
 * (as `aws s3 cp FILE s3://bucket/folder/` does); without it, the key must name an object.
 */
export function parseS3Url(text: string, fileName?: string): S3Target {
  const fail = (why: string): never => {
    throw new DiskError('S3_URL_INVALID', `${JSON.stringify(text)} is not a valid S3 object URL: ${why}`);
  };
  if (!isS3Url(text)) fail('it must start with s3://');
  const rest = text.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  let key = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket === '') fail('no bucket name');
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..') || IP_ADDRESS.test(bucket)) {
    fail(`bucket ${JSON.stringify(bucket)} breaks S3's naming rules (3-63 lowercase letters, digits, dots, hyphens)`);
  }
  if (fileName !== undefined && (key === '' || key.endsWith('/'))) key += fileName;
  if (key === '') fail('no object key after the bucket (s3://bucket/key)');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) fail(`the key is longer than ${MAX_KEY_BYTES} bytes`);
  if (/[\x00-\x1f\x7f]/.test(key)) fail('the key holds control characters');
  return { bucket, key };
}

export function s3Url(target: S3Target): string {
  return `s3://${target.bucket}/${target.key}`;
}
