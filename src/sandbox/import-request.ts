/**
 * ImportImage's synchronous checks, made before a task exists, as EC2 makes them: required and exclusive
 * parameters, enum values, tags, the KMS key, the service role. What passes becomes an ImportRequest: the input
 * in boto3's shape with each disk's S3 location resolved.
 */
import { Ec2Fault } from './faults.js';
import type { Parsed } from './query.js';

export interface S3Location {
  bucket: string;
  key: string;
}

export interface DiskContainerRequest {
  Description?: string;
  DeviceName?: string;
  /** Upper case, as the sandbox reports it back. */
  Format?: 'OVA' | 'VHD' | 'VHDX' | 'VMDK' | 'RAW';
  Url?: string;
  UserBucket?: { S3Bucket: string; S3Key: string };
  /** Where the sandbox reads the image (from UserBucket, or from the Url). */
  location: S3Location;
}

export interface Tag {
  Key: string;
  Value: string;
}

export interface ImportRequest {
  Architecture?: 'i386' | 'x86_64';
  BootMode?: 'legacy-bios' | 'uefi';
  ClientData?: Record<string, string | number>;
  ClientToken?: string;
  Description?: string;
  DiskContainers: DiskContainerRequest[];
  Encrypted?: boolean;
  Hypervisor?: 'xen';
  KmsKeyId?: string;
  LicenseSpecifications?: { LicenseConfigurationArn: string }[];
  LicenseType?: 'AWS' | 'BYOL';
  Platform?: 'Windows' | 'Linux';
  RoleName: string;
  Tags: Tag[];
  UsageOperation?: string;
}

const FORMATS = ['OVA', 'VHD', 'VHDX', 'VMDK', 'RAW'] as const;
/** VM Import's limit on the disks of one import (VM Import/Export limitations). */
const MAX_DISK_CONTAINERS = 21;
/** EC2's limit on client tokens. */
const MAX_CLIENT_TOKEN = 64;
const TAGGABLE = 'import-image-task';
const MAX_TAG_KEY = 127;
const MAX_TAG_VALUE = 256;

/** `roles`: the service roles that exist (and have the permissions VM Import needs) in the sandbox's account. */
export function importRequestOf(input: Record<string, Parsed>, roles: ReadonlySet<string>): ImportRequest {
  const text = (name: string) => optionalText(input, name);
  const roleName = text('RoleName') ?? 'vmimport';
  if (!roles.has(roleName)) {
    throw new Ec2Fault('InvalidParameter', `The service role ${roleName} provided does not exist or does not have sufficient permissions`);
  }
  const kmsKeyId = text('KmsKeyId');
  if (kmsKeyId !== undefined && input.Encrypted !== true) {
    throw new Ec2Fault('InvalidParameterCombination', 'KmsKeyId requires Encrypted to be true');
  }
  const clientToken = text('ClientToken');
  if (clientToken !== undefined && (clientToken.length === 0 || clientToken.length > MAX_CLIENT_TOKEN)) {
    throw new Ec2Fault('InvalidParameterValue', `Value (${clientToken}) for parameter ClientToken is invalid: 1 to ${MAX_CLIENT_TOKEN} characters`);
  }
  return {
    ...defined('Architecture', oneOf(input, 'Architecture', ['i386', 'x86_64'])),
    ...defined('BootMode', bootModeOf(input)),
    ...defined('ClientData', input.ClientData as Record<string, string | number> | undefined),
    ...defined('ClientToken', clientToken),
    ...defined('Description', text('Description')),
    DiskContainers: containersOf(input.DiskContainers),
    ...defined('Encrypted', input.Encrypted as boolean | undefined),
    ...defined('Hypervisor', oneOf(input, 'Hypervisor', ['xen'])),
    ...defined('KmsKeyId', kmsKeyId),
    ...defined('LicenseSpecifications', licenseSpecificationsOf(input.LicenseSpecifications)),
    ...defined('LicenseType', oneOf(input, 'LicenseType', ['AWS', 'BYOL'])),
    ...defined('Platform', oneOf(input, 'Platform', ['Windows', 'Linux'])),
    RoleName: roleName,
    Tags: tagsOf(input.TagSpecifications),
    ...defined('UsageOperation', text('UsageOperation')),
  };
}

function containersOf(value: Parsed | undefined): DiskContainerRequest[] {
  const containers = (value ?? []) as Record<string, Parsed>[];
  if (containers.length === 0) throw new Ec2Fault('MissingParameter', 'The request must contain the parameter DiskContainer');
  if (containers.length > MAX_DISK_CONTAINERS) {
    throw new Ec2Fault('InvalidParameterValue', `Too many disk containers (${containers.length}): at most ${MAX_DISK_CONTAINERS} per import`);
  }
  return containers.map((container, index) => containerOf(container, `DiskContainer.${index + 1}`));
}

function containerOf(container: Record<string, Parsed>, name: string): DiskContainerRequest {
  if (container.SnapshotId !== undefined) {
    throw new Ec2Fault('UnsupportedOperation', `${name}.SnapshotId: the sandbox imports from S3 only (UserBucket or Url), not from EBS snapshots`);
  }
  const url = optionalText(container, 'Url');
  const bucket = container.UserBucket as Record<string, Parsed> | undefined;
  if (url !== undefined && bucket !== undefined) {
    throw new Ec2Fault('InvalidParameterCombination', `${name}: specify either Url or UserBucket, not both`);
  }
  if (url === undefined && bucket === undefined) {
    throw new Ec2Fault('MissingParameter', `The request must contain the parameter ${name}.UserBucket or ${name}.Url`);
  }
  const format = optionalText(container, 'Format')?.toUpperCase();
  if (format !== undefined && !(FORMATS as readonly string[]).includes(format)) {
    throw new Ec2Fault('InvalidParameterValue', `Value (${String(container.Format)}) for parameter ${name}.Format is invalid. Valid values: ${FORMATS.join(', ')}`);
  }
  const userBucket = bucket === undefined ? undefined : userBucketOf(bucket, `${name}.UserBucket`);
  return {
    ...defined('Description', optionalText(container, 'Description')),
    ...defined('DeviceName', optionalText(container, 'DeviceName')),
    ...defined('Format', format as DiskContainerRequest['Format']),
    ...defined('Url', url),
    ...defined('UserBucket', userBucket),
    location: userBucket === undefined ? locationOfUrl(url!) : { bucket: userBucket.S3Bucket, key: userBucket.S3Key },
  };
}

function userBucketOf(bucket: Record<string, Parsed>, name: string): { S3Bucket: string; S3Key: string } {
  for (const field of ['S3Bucket', 'S3Key']) {
    if (optionalText(bucket, field) === undefined) throw new Ec2Fault('MissingParameter', `The request must contain the parameter ${name}.${field}`);
  }
  return { S3Bucket: bucket.S3Bucket as string, S3Key: bucket.S3Key as string };
}

/**
 * `s3://bucket/key`, or an http(s) URL to S3: virtual-hosted (`bucket.s3.region.amazonaws.com/key`) or path-style
 * (`s3.region.amazonaws.com/bucket/key`, or the sandbox's own endpoint). The sandbox's S3 stands in for them all.
 */
export function locationOfUrl(url: string): S3Location {
  const invalid = () => new Ec2Fault('InvalidParameter', `Invalid S3 source location: ${url}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid();
  }
  const path = decodeURIComponent(parsed.pathname.slice(1));
  const virtualHost = /^(.+)\.s3[.-][a-z0-9.-]*amazonaws\.com$/.exec(parsed.hostname)?.[1];
  const slash = path.indexOf('/');
  const [bucket, key] =
    parsed.protocol === 's3:' ? [parsed.hostname, path]
    : parsed.protocol !== 'https:' && parsed.protocol !== 'http:' ? []
    : virtualHost !== undefined ? [virtualHost, path]
    : slash > 0 ? [path.slice(0, slash), path.slice(slash + 1)]
    : [];
  if (!bucket || !key) throw invalid();
  return { bucket, key };
}

function bootModeOf(input: Record<string, Parsed>): ImportRequest['BootMode'] {
  const mode = oneOf(input, 'BootMode', ['legacy-bios', 'uefi', 'uefi-preferred']);
  if (mode === 'uefi-preferred') {
    throw new Ec2Fault('InvalidParameterValue', 'BootMode uefi-preferred is not supported for image imports: use legacy-bios or uefi');
  }
  return mode;
}

function tagsOf(value: Parsed | undefined): Tag[] {
  const specifications = (value ?? []) as Record<string, Parsed>[];
  return specifications.flatMap((specification, index) => {
    const resourceType = optionalText(specification, 'ResourceType');
    if (resourceType === undefined) throw new Ec2Fault('MissingParameter', `The request must contain the parameter TagSpecification.${index + 1}.ResourceType`);
    if (resourceType !== TAGGABLE) {
      throw new Ec2Fault('InvalidParameterValue', `'${resourceType}' is not a valid taggable resource type for this operation.`);
    }
    return ((specification.Tags ?? []) as Record<string, Parsed>[]).map((tag) => tagOf(tag));
  });
}

function tagOf(tag: Record<string, Parsed>): Tag {
  const key = optionalText(tag, 'Key');
  const value = optionalText(tag, 'Value') ?? '';
  if (key === undefined || key.length === 0) throw new Ec2Fault('InvalidParameterValue', 'Tag key must not be empty');
  if ([...key].length > MAX_TAG_KEY) throw new Ec2Fault('InvalidParameterValue', `Tag key exceeds the maximum length of ${MAX_TAG_KEY} characters: ${key}`);
  if ([...value].length > MAX_TAG_VALUE) throw new Ec2Fault('InvalidParameterValue', `Tag value exceeds the maximum length of ${MAX_TAG_VALUE} characters (key ${key})`);
  if (key.toLowerCase().startsWith('aws:')) throw new Ec2Fault('InvalidParameterValue', "Tag keys starting with 'aws:' are reserved for internal use");
  return { Key: key, Value: value };
}

function licenseSpecificationsOf(value: Parsed | undefined): ImportRequest['LicenseSpecifications'] {
  if (value === undefined) return undefined;
  return (value as Record<string, Parsed>[]).map((specification, index) => {
    const arn = optionalText(specification, 'LicenseConfigurationArn');
    if (arn === undefined || !arn.startsWith('arn:')) {
      throw new Ec2Fault('InvalidParameterValue', `Value (${String(arn)}) for parameter LicenseSpecifications.${index + 1}.LicenseConfigurationArn is invalid: an ARN`);
    }
    return { LicenseConfigurationArn: arn };
  });
}

/** An enum member: matched case-insensitively (VM Import's own examples write `ova`), returned in its canonical case. */
function oneOf<const T extends string>(input: Record<string, Parsed>, name: string, values: readonly T[]): T | undefined {
  const given = optionalText(input, name);
  if (given === undefined) return undefined;
  const match = values.find((value) => value.toLowerCase() === given.toLowerCase());
  if (match === undefined) throw new Ec2Fault('InvalidParameterValue', `Value (${given}) for parameter ${name} is invalid. Valid values: ${values.join(', ')}`);
  return match;
}

function optionalText(input: Record<string, Parsed>, name: string): string | undefined {
  const value = input[name];
  return typeof value === 'string' ? value : undefined;
}

function defined<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: V };
}
