/**
 * The EC2 Query protocol's request side: form fields such as `DiskContainer.1.UserBucket.S3Bucket=b` parsed into
 * the nested shape boto3 and the SDK take (`DiskContainers: [{ UserBucket: { S3Bucket: 'b' } }]`). EC2 flattens
 * lists as `Name.N` (N from 1), names a list by its member's query name (DiskContainer, Tag, Value), and
 * capitalises every name. Each action's input is declared once below as a shape; a field no shape names is an
 * UnknownParameter, as on EC2.
 */
import { Ec2Fault } from './faults.js';

type Scalar = 'string' | 'boolean' | 'integer' | 'double' | 'timestamp';
export type Shape = Scalar | { list: Shape; query: string } | { struct: Record<string, Shape> };

const list = (query: string, member: Shape): Shape => ({ list: member, query });
const struct = (fields: Record<string, Shape>) => ({ struct: fields });

const FILTERS = (query: string) => list(query, struct({ Name: 'string', Values: list('Value', 'string') }));
const TAGS = list('Tag', struct({ Key: 'string', Value: 'string' }));

/** The inputs of the actions the sandbox serves, as the SDK model (client-ec2 3.x) declares them. */
export const ACTION_SHAPES = {
  ImportImage: struct({
    Architecture: 'string',
    BootMode: 'string',
    ClientData: struct({ Comment: 'string', UploadEnd: 'timestamp', UploadSize: 'double', UploadStart: 'timestamp' }),
    ClientToken: 'string',
    Description: 'string',
    DiskContainers: list(
      'DiskContainer',
      struct({
        Description: 'string',
        DeviceName: 'string',
        Format: 'string',
        SnapshotId: 'string',
        Url: 'string',
        UserBucket: struct({ S3Bucket: 'string', S3Key: 'string' }),
      }),
    ),
    DryRun: 'boolean',
    Encrypted: 'boolean',
    Hypervisor: 'string',
    KmsKeyId: 'string',
    LicenseSpecifications: list('LicenseSpecifications', struct({ LicenseConfigurationArn: 'string' })),
    LicenseType: 'string',
    Platform: 'string',
    RoleName: 'string',
    TagSpecifications: list('TagSpecification', struct({ ResourceType: 'string', Tags: TAGS })),
    UsageOperation: 'string',
  }),
  DescribeImportImageTasks: struct({
    DryRun: 'boolean',
    Filters: FILTERS('Filters'),
    ImportTaskIds: list('ImportTaskId', 'string'),
    MaxResults: 'integer',
    NextToken: 'string',
  }),
  CancelImportTask: struct({ CancelReason: 'string', DryRun: 'boolean', ImportTaskId: 'string' }),
  DescribeImages: struct({
    DryRun: 'boolean',
    ExecutableUsers: list('ExecutableBy', 'string'),
    Filters: FILTERS('Filter'),
    ImageIds: list('ImageId', 'string'),
    IncludeDeprecated: 'boolean',
    IncludeDisabled: 'boolean',
    MaxResults: 'integer',
    NextToken: 'string',
    Owners: list('Owner', 'string'),
  }),
} as const satisfies Record<string, Shape>;

export type ActionName = keyof typeof ACTION_SHAPES;

/** A parsed value: what the shape makes of the fields (unknown until the action's code narrows it). */
export type Parsed = string | boolean | number | Parsed[] | { [name: string]: Parsed };

/**
 * The action's input from the request's fields (`Action`, `Version` and SigV4 query fields already removed).
 * Throws Ec2Fault UnknownParameter for a field the shape does not name, InvalidParameterValue for a malformed value.
 */
export function parseInput(action: ActionName, fields: Map<string, string>): Record<string, Parsed> {
  const used = new Set<string>();
  const input = parseStruct(ACTION_SHAPES[action].struct, '', fields, used) ?? {};
  for (const name of fields.keys()) {
    if (!used.has(name)) throw new Ec2Fault('UnknownParameter', `The parameter ${name} is not recognized`);
  }
  return input;
}

function parseValue(shape: Shape, key: string, fields: Map<string, string>, used: Set<string>): Parsed | undefined {
  if (typeof shape === 'string') return parseScalar(shape, key, fields, used);
  if ('list' in shape) return parseList(shape.list, key, fields, used);
  return parseStruct(shape.struct, `${key}.`, fields, used);
}

function parseStruct(members: Record<string, Shape>, prefix: string, fields: Map<string, string>, used: Set<string>) {
  const value: Record<string, Parsed> = {};
  for (const [name, shape] of Object.entries(members)) {
    const queryName = typeof shape === 'object' && 'list' in shape ? shape.query : name;
    const member = parseValue(shape, `${prefix}${queryName}`, fields, used);
    if (member !== undefined) value[name] = member;
  }
  return Object.keys(value).length === 0 ? undefined : value;
}

/** `Key.1`, `Key.2.Sub`, … in index order (gaps allowed, as EC2 allows them). */
function parseList(member: Shape, key: string, fields: Map<string, string>, used: Set<string>): Parsed[] | undefined {
  const indexes = new Set<number>();
  for (const name of fields.keys()) {
    const index = /^(\d+)(?:\.|$)/.exec(name.startsWith(`${key}.`) ? name.slice(key.length + 1) : '')?.[1];
    if (index !== undefined && Number(index) >= 1) indexes.add(Number(index));
  }
  if (indexes.size === 0) return undefined;
  const items = [...indexes].sort((a, b) => a - b).map((index) => parseValue(member, `${key}.${index}`, fields, used));
  return items.filter((item): item is Parsed => item !== undefined);
}

function parseScalar(type: Scalar, key: string, fields: Map<string, string>, used: Set<string>): Parsed | undefined {
  const text = fields.get(key);
  if (text === undefined) return undefined;
  used.add(key);
  const invalid = () => new Ec2Fault('InvalidParameterValue', `Value (${text}) for parameter ${key} is invalid. Expected: '${type}'.`);
  switch (type) {
    case 'string':
      return text;
    case 'boolean':
      if (!/^(true|false)$/i.test(text)) throw invalid();
      return text.toLowerCase() === 'true';
    case 'integer':
      if (!/^-?\d{1,15}$/.test(text)) throw invalid();
      return Number(text);
    case 'double': {
      const number = Number(text);
      if (text.trim() === '' || !Number.isFinite(number)) throw invalid();
      return number;
    }
    case 'timestamp': {
      const time = /^\d+(\.\d+)?$/.test(text) ? new Date(Number(text) * 1000) : new Date(text);
      if (Number.isNaN(time.getTime())) throw invalid();
      return time.toISOString();
    }
  }
}
