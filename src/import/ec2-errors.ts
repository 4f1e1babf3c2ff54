/**
 * EC2 failures as DiskErrors with stable codes. EC2 answers with a code (InvalidParameterValue, AuthFailure,
 * IdempotentParameterMismatch, ...) and a message; the DiskError keeps both (the message names what EC2
 * refused) and says what to do. Credentials never appear: SDK errors do not carry them, and only names, codes
 * and the service's message are added.
 */
import { DiskError, type ErrorCode } from '../errors.js';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const ACCESS_DENIED = new Set(['UnauthorizedOperation', 'AuthFailure', 'Blocked', 'OptInRequired', 'SignatureDoesNotMatch', 'InvalidClientTokenId']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE']);
/** What EC2 rejects as a bad request: the caller can fix it. */
const REJECTED = /^(Invalid|Missing|Unknown|Unsupported|ResourceLimitExceeded)|\.(Malformed|NotFound)$/;

/** The codes for a task id EC2 does not know. */
const UNKNOWN_TASK = new Set(['InvalidConversionTaskId.Malformed', 'InvalidConversionTaskId', 'InvalidImportTaskId.NotFound']);

/** `what` names the call ("ImportImage", "cancel import-ami-…"). A DiskError passes through. */
export function ec2Error(error: unknown, what: string): DiskError {
  if (error instanceof DiskError) return error;
  const sdk = (error ?? {}) as SdkError;
  const name = sdk.name ?? 'Error';
  const said = sdk.message ? `: ${sdk.message}` : '';
  const fail = (code: ErrorCode, message: string) => new DiskError(code, message, { cause: error });
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(sdk.message ?? '')) {
    return fail('EC2_CREDENTIALS_MISSING', `${what}: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, or use --sandbox)`);
  }
  if (/region is missing/i.test(sdk.message ?? '')) return fail('EC2_REGION_MISSING', `${what}: no AWS region configured (use --region or AWS_REGION)`);
  if (name === 'IdempotentParameterMismatch') {
    return fail('IMPORT_TOKEN_MISMATCH', `${what}: EC2 already took this ClientToken with other parameters (${name}${said}); give another --client-token to start a new import`);
  }
  if (UNKNOWN_TASK.has(name)) return fail('IMPORT_TASK_NOT_FOUND', `${what}: no such import task (${name}${said})`);
  if (name === 'IncorrectState') return fail('IMPORT_TASK_NOT_ACTIVE', `${what}: the task is no longer active (${name}${said})`);
  if (ACCESS_DENIED.has(name) || sdk.$metadata?.httpStatusCode === 403) {
    return fail('EC2_ACCESS_DENIED', `${what}: access denied (${name}${said}); check the credentials and the IAM policy (ec2:ImportImage, the vmimport role)`);
  }
  if (UNREACHABLE.has(sdk.code ?? name) || name === 'TimeoutError') {
    return fail('EC2_UNREACHABLE', `${what}: cannot reach the EC2 endpoint (${sdk.code ?? name}), after retries`);
  }
  if (REJECTED.test(name)) return fail('EC2_REQUEST_REJECTED', `${what}: EC2 refused the request (${name}${said})`);
  const status = sdk.$metadata?.httpStatusCode;
  return fail('EC2_REQUEST_FAILED', `${what} failed (${name}${status === undefined ? '' : `, HTTP ${status}`}${said})`);
}
