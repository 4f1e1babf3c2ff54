/**
 * SDK failures as DiskErrors with stable codes. The SDK's own messages can be long, empty (RGW sends an empty
 * <Message>) or name internals; the message here says what was asked of which object and what to do, and
 * never carries credentials (SDK errors do not include them; we add only names and status codes).
 */
import { DiskError } from '../errors.js';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $fault?: string;
}

const ACCESS_DENIED = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'Forbidden',
  'AllAccessDisabled', 'AccountProblem',
]);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE']);

/**
 * `what` names the request ("upload part 3 of", "read"), `url` the object. An error that already is a
 * DiskError passes through.
 */
export function s3Error(error: unknown, what: string, url: string): DiskError {
  if (error instanceof DiskError) return error;
  const sdk = (error ?? {}) as SdkError;
  const name = sdk.name ?? 'Error';
  const status = sdk.$metadata?.httpStatusCode;
  const details = { file: url, cause: error };
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(sdk.message ?? '')) {
    return new DiskError(
      'S3_CREDENTIALS_MISSING',
      `${what}: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, or run on an instance with a role)`,
      details,
    );
  }
  if (/region is missing/i.test(sdk.message ?? '')) {
    return new DiskError('S3_REGION_MISSING', `${what}: no AWS region configured (use --region or AWS_REGION)`, details);
  }
  if (name === 'NoSuchBucket') return noSuchBucket(what, url, error);
  if (name === 'NoSuchKey' || (name === 'NotFound' && status === 404)) {
    return new DiskError('S3_NO_SUCH_KEY', `${what}: no such object (or no such bucket)`, details);
  }
  if (ACCESS_DENIED.has(name) || status === 403) {
    return new DiskError('S3_ACCESS_DENIED', `${what}: access denied (${name}, HTTP 403): check the credentials and the bucket policy`, details);
  }
  const errno = sdk.code ?? name;
  if (UNREACHABLE.has(errno) || name === 'TimeoutError') {
    return new DiskError('S3_UNREACHABLE', `${what}: cannot reach the S3 endpoint (${errno}), after retries`, details);
  }
  const reason = status === undefined ? name : `${name}, HTTP ${status}`;
  return new DiskError('S3_REQUEST_FAILED', `${what} failed (${reason})${statusAdvice(status)}`, details);
}

export function noSuchBucket(what: string, url: string, cause: unknown): DiskError {
  return new DiskError('S3_NO_SUCH_BUCKET', `${what}: the bucket does not exist (create it, or check the name and --region)`, { file: url, cause });
}

function statusAdvice(status: number | undefined): string {
  if (status === undefined) return '';
  if (status >= 500) return ': the service kept failing after retries; try again later';
  return '';
}

/** True for the answer of a server that lacks a multipart call (s3rver: ListParts, AbortMultipartUpload). */
export function isNotImplemented(error: unknown): boolean {
  const sdk = (error ?? {}) as SdkError;
  return sdk.name === 'NotImplemented' || sdk.name === 'MethodNotAllowed' || sdk.$metadata?.httpStatusCode === 501;
}
