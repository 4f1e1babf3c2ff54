/**
 * The ImportImage checks diskport makes before any call, so a request EC2 would refuse (or accept and then fail
 * an hour later) fails at once, with a code of its own and a message naming the field and the value. The rules
 * are the API reference's: enums, the KMS key, tags, one source per disk, the client token.
 */
import { DiskError, type ErrorCode } from '../errors.js';
import type { ImportImageInput } from './request.js';

interface Problem {
  code: ErrorCode;
  /** The field at fault, as a path into the request: `TagSpecifications[0].Tags[1].Key`. */
  field: string;
  message: string;
}

/** Enum values from the EC2 API reference (the SDK model types them as plain strings). */
const ENUMS = {
  Architecture: ['i386', 'x86_64'],
  BootMode: ['legacy-bios', 'uefi', 'uefi-preferred'],
  Hypervisor: ['xen'],
  LicenseType: ['AWS', 'BYOL'],
  Platform: ['Windows', 'Linux'],
} as const satisfies Partial<Record<keyof ImportImageInput, readonly string[]>>;
/** A disk's Format; EC2 takes it in any case (AWS's own examples write `ova`). */
const FORMATS = ['OVA', 'VHD', 'VHDX', 'VMDK', 'RAW'];
const MAX_TAG_KEY = 127;
const MAX_TAG_VALUE = 256;
const MAX_CLIENT_TOKEN = 64;

type RuleCheck = (request: ImportImageInput) => Problem[];

/** Each rule: its code and what it finds (every hit is a problem; the first one found is thrown). */
const RULES: RuleCheck[] = [
  enumValues,
  (request) =>
    request.KmsKeyId !== undefined && request.Encrypted !== true
      ? [{ code: 'IMPORT_KMS_WITHOUT_ENCRYPTION', field: 'KmsKeyId', message: `KmsKeyId ${JSON.stringify(request.KmsKeyId)} needs Encrypted: add --encrypted, or drop the key` }]
      : [],
  tags,
  diskSources,
  clientToken,
];

/** Throws the first problem as a DiskError (exit 2 in the CLI); returns the request unchanged when none. */
export function validateRequest(request: ImportImageInput): ImportImageInput {
  const problem = problemsOf(request)[0];
  if (problem !== undefined) throw new DiskError(problem.code, problem.message, { field: problem.field });
  return request;
}

export function problemsOf(request: ImportImageInput): Problem[] {
  return RULES.flatMap((rule) => rule(request));
}

function enumValues(request: ImportImageInput): Problem[] {
  const problems: Problem[] = [];
  for (const [field, values] of Object.entries(ENUMS) as [keyof typeof ENUMS, readonly string[]][]) {
    const value = request[field];
    if (value !== undefined && !values.includes(value)) problems.push(notOneOf(field, value, values));
  }
  (request.DiskContainers ?? []).forEach((disk, index) => {
    if (disk.Format !== undefined && !FORMATS.includes(disk.Format.toUpperCase())) {
      problems.push(notOneOf(`DiskContainers[${index}].Format`, disk.Format, FORMATS));
    }
  });
  return problems;
}

function notOneOf(field: string, value: string, values: readonly string[]): Problem {
  return { code: 'IMPORT_VALUE_INVALID', field, message: `${field} ${JSON.stringify(value)} is not one of ${values.join(', ')}` };
}

/** Tag keys and values are counted in Unicode characters, as the API reference states its limits. */
function tags(request: ImportImageInput): Problem[] {
  return (request.TagSpecifications ?? []).flatMap((specification, s) =>
    (specification.Tags ?? []).flatMap((tag, t): Problem[] => {
      const field = `TagSpecifications[${s}].Tags[${t}]`;
      const key = tag.Key ?? '';
      const value = tag.Value ?? '';
      if ([...key].length > MAX_TAG_KEY) {
        return [{ code: 'IMPORT_TAG_KEY_TOO_LONG', field: `${field}.Key`, message: `tag key ${JSON.stringify(shorten(key))} has ${[...key].length} characters; at most ${MAX_TAG_KEY}` }];
      }
      if (key.toLowerCase().startsWith('aws:')) {
        return [{ code: 'IMPORT_TAG_KEY_RESERVED', field: `${field}.Key`, message: `tag key ${JSON.stringify(key)} starts with aws:, which AWS reserves for its own tags` }];
      }
      if ([...value].length > MAX_TAG_VALUE) {
        return [{ code: 'IMPORT_TAG_VALUE_TOO_LONG', field: `${field}.Value`, message: `the value of tag ${JSON.stringify(key)} has ${[...value].length} characters; at most ${MAX_TAG_VALUE}` }];
      }
      return [];
    }),
  );
}

/** Each disk comes from exactly one place: an S3 bucket and key, a URL, or (for snapshots) an EBS snapshot. */
function diskSources(request: ImportImageInput): Problem[] {
  const disks = request.DiskContainers ?? [];
  if (disks.length === 0) return [{ code: 'IMPORT_DISK_SOURCE_MISSING', field: 'DiskContainers', message: 'the request names no disk: give a file or s3:// object' }];
  return disks.flatMap((disk, index): Problem[] => {
    const field = `DiskContainers[${index}]`;
    if (disk.Url !== undefined && disk.UserBucket !== undefined) {
      const bucket = `s3://${disk.UserBucket.S3Bucket ?? ''}/${disk.UserBucket.S3Key ?? ''}`;
      return [{ code: 'IMPORT_DISK_SOURCE_CONFLICT', field, message: `${field} names both Url ${JSON.stringify(disk.Url)} and UserBucket ${bucket}: give one` }];
    }
    if (disk.Url === undefined && disk.UserBucket === undefined && disk.SnapshotId === undefined) {
      return [{ code: 'IMPORT_DISK_SOURCE_MISSING', field, message: `${field} names no source: give UserBucket (--bucket/--key), Url or SnapshotId` }];
    }
    return [];
  });
}

function clientToken(request: ImportImageInput): Problem[] {
  const token = request.ClientToken;
  if (token === undefined) return [];
  if (token.length === 0 || token.length > MAX_CLIENT_TOKEN || !/^[\x21-\x7e]+$/.test(token)) {
    return [{ code: 'IMPORT_CLIENT_TOKEN_INVALID', field: 'ClientToken', message: `ClientToken ${JSON.stringify(shorten(token))} must be 1 to ${MAX_CLIENT_TOKEN} printable ASCII characters` }];
  }
  return [];
}

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
