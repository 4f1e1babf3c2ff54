/**
 * Every failure diskport reports is a DiskError with a stable `code`. Callers and tests match on the code,
 * never on the message. The table below is the single list of codes; README.md documents the same list.
 */

/** Exit statuses of the CLI, by kind of failure. */
export const ExitStatus = {
  ok: 0,
  internal: 1,
  usage: 2,
  io: 3,
  invalid: 4,
  unsupported: 5,
} as const;
export type ExitKind = keyof typeof ExitStatus;

/** Stable error codes, each with the kind of failure it is (which fixes the CLI exit status). */
export const ErrorCodes = {
  USAGE: 'usage',
  FILE_NOT_FOUND: 'io',
  IO_ERROR: 'io',
  EMPTY_IMAGE: 'invalid',
  TRUNCATED: 'invalid',
  BAD_MAGIC: 'invalid',
  BAD_CHECKSUM: 'invalid',
  BAD_HEADER: 'invalid',
  BAD_DESCRIPTOR: 'invalid',
  OFFSET_OUT_OF_RANGE: 'invalid',
  LIMIT_EXCEEDED: 'invalid',
  CORRUPT_DATA: 'invalid',
  EXTENT_MISSING: 'io',
  PATH_OUTSIDE_FOLDER: 'invalid',
  BACKWARD_READ: 'unsupported',
  NOT_SEEKABLE: 'unsupported',
  UNSUPPORTED_VERSION: 'unsupported',
  UNSUPPORTED_FEATURE: 'unsupported',
  PARENT_REQUIRED: 'unsupported',
  VHDX_LOG_NOT_EMPTY: 'unsupported',
  QCOW2_ENCRYPTED: 'unsupported',
  QCOW2_EXTERNAL_DATA_FILE: 'unsupported',
  QCOW2_BACKING_FILE: 'unsupported',
  OVA_NO_OVF: 'invalid',
  OVA_UNSAFE_PATH: 'invalid',
  OVA_LINK: 'invalid',
  OVA_DUPLICATE_ENTRY: 'invalid',
  OVA_MISSING_FILE: 'invalid',
  OVA_UNDECLARED_COMPRESSION: 'invalid',
  OVF_INVALID_XML: 'invalid',
  OVF_UNSAFE_XML: 'invalid',
  MANIFEST_INVALID: 'invalid',
  MANIFEST_MISMATCH: 'invalid',
  // convert
  SIZE_UNKNOWN: 'unsupported',
  NOT_STREAMABLE: 'unsupported',
  OUTPUT_EXISTS: 'io',
  // upload to S3, verify, S3 objects as sources (src/upload/, src/source/s3.ts)
  S3_URL_INVALID: 'usage',
  S3_REGION_MISSING: 'usage',
  S3_CREDENTIALS_MISSING: 'usage',
  S3_ACCESS_DENIED: 'io',
  S3_NO_SUCH_BUCKET: 'io',
  S3_NO_SUCH_KEY: 'io',
  S3_UNREACHABLE: 'io',
  S3_REQUEST_FAILED: 'io',
  UPLOAD_TOO_LARGE: 'unsupported',
  UPLOAD_INTERRUPTED: 'io',
  SOURCE_CHANGED: 'io',
  STATE_WRITE_FAILED: 'io',
  STATE_INVALID: 'invalid',
  RESUME_UNAVAILABLE: 'usage',
  VERIFY_MISMATCH: 'invalid',
  // import: ImportImage requests checked before any call, the EC2 calls, the task's end (src/import/)
  IMPORT_KMS_WITHOUT_ENCRYPTION: 'usage',
  IMPORT_TAG_KEY_TOO_LONG: 'usage',
  IMPORT_TAG_VALUE_TOO_LONG: 'usage',
  IMPORT_TAG_KEY_RESERVED: 'usage',
  IMPORT_VALUE_INVALID: 'usage',
  IMPORT_DISK_SOURCE_CONFLICT: 'usage',
  IMPORT_DISK_SOURCE_MISSING: 'usage',
  IMPORT_CLIENT_TOKEN_INVALID: 'usage',
  IMPORT_CHECK_FAILED: 'usage',
  IMPORT_TOKEN_MISMATCH: 'usage',
  IMPORT_TASK_NOT_FOUND: 'usage',
  IMPORT_TASK_NOT_ACTIVE: 'usage',
  IMPORT_FAILED: 'invalid',
  IMPORT_INTERRUPTED: 'io',
  EC2_CREDENTIALS_MISSING: 'usage',
  EC2_REGION_MISSING: 'usage',
  EC2_ACCESS_DENIED: 'io',
  EC2_UNREACHABLE: 'io',
  EC2_REQUEST_REJECTED: 'usage',
  EC2_REQUEST_FAILED: 'io',
  // AWS-CLI-compatible commands: Image Builder ImportVmImage checks and calls (src/awscli/)
  IMAGEBUILDER_NAME_INVALID: 'usage',
  IMAGEBUILDER_VERSION_INVALID: 'usage',
  IMAGEBUILDER_TAGS_INVALID: 'usage',
  IMAGEBUILDER_VALUE_INVALID: 'usage',
  IMAGEBUILDER_REQUEST_REJECTED: 'usage',
  IMAGEBUILDER_REQUEST_FAILED: 'io',
  PROBE_TIMEOUT: 'internal',
  PROBE_CRASHED: 'internal',
  INTERNAL: 'internal',
} as const satisfies Record<string, ExitKind>;
export type ErrorCode = keyof typeof ErrorCodes;

export interface DiskErrorDetails {
  /** The file (or source name) the problem was found in. */
  file?: string;
  /** The format whose reader found it. */
  format?: string;
  /** Byte offset in the file where the offending structure or field lives. */
  offset?: number;
  /** The structure field at fault, e.g. `footer.checksum`. */
  field?: string;
  cause?: unknown;
}

export class DiskError extends Error {
  readonly code: ErrorCode;
  readonly file: string | undefined;
  readonly format: string | undefined;
  readonly offset: number | undefined;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, details: DiskErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'DiskError';
    this.code = code;
    this.file = details.file;
    this.format = details.format;
    this.offset = details.offset;
    this.field = details.field;
  }

  get exitStatus(): number {
    return ExitStatus[ErrorCodes[this.code]];
  }

  /** One plain line: where, what. */
  describe(): string {
    const where = [
      this.file,
      this.offset === undefined ? undefined : `offset ${this.offset}`,
      this.field,
    ].filter((part) => part !== undefined);
    return where.length > 0 ? `${where.join(', ')}: ${this.message}` : this.message;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.file === undefined ? {} : { file: this.file }),
      ...(this.format === undefined ? {} : { format: this.format }),
      ...(this.offset === undefined ? {} : { offset: this.offset }),
      ...(this.field === undefined ? {} : { field: this.field }),
    };
  }
}

export function isDiskError(error: unknown): error is DiskError {
  return error instanceof DiskError;
}

/** Adds the file name to a DiskError that lacks one; turns anything else into INTERNAL. */
export function asDiskError(error: unknown, file?: string): DiskError {
  if (error instanceof DiskError) {
    if (error.file !== undefined || file === undefined) return error;
    return new DiskError(error.code, error.message, { ...error, file, cause: error.cause });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DiskError('INTERNAL', `unexpected failure: ${message}`, { file, cause: error });
}
