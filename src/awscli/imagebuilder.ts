/**
 * `aws imagebuilder import-vm-image`: its request and answer shapes (the Image Builder model, REST-JSON, members
 * in camelCase), the rules Image Builder enforces, checked before sending (the image name, the semantic version
 * `<major>.<minor>.<patch>` with each part at most 2^30-1, the platform, tag limits, lengths), and the call through
 * @aws-sdk/client-imagebuilder, which fills in clientToken when none is given.
 */
import type { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { baseClientConfig, quietSdkWarning } from '../aws/config.js';
import { DiskError, type ErrorCode } from '../errors.js';
import type { ClientOptions, OperationSpec } from './operation.js';
import { map, structure, text } from './shape.js';

export const PLATFORMS = ['Windows', 'Linux', 'macOS'] as const;
/** Image Builder's largest value for each of major, minor and patch. */
export const MAX_VERSION_PART = 2 ** 30 - 1;
/** An Image Builder resource name: 3 to 128 letters, digits, `-` and `_`, with spaces inside. */
const NAME = /^[-_A-Za-z0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z0-9]$/;
const TAG_KEY = /^[a-zA-Z0-9\s_.:/=+\-@]+$/;
const MAX_TAGS = 50;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 256;
const MAX_TEXT = 1024;
const MAX_CLIENT_TOKEN = 64;

export const IMPORT_VM_IMAGE_INPUT = structure({
  name: text(),
  semanticVersion: text(),
  description: text(),
  platform: text(PLATFORMS),
  osVersion: text(),
  vmImportTaskId: text(),
  loggingConfiguration: structure({ logGroupName: text() }),
  tags: map(text()),
  clientToken: text(),
});

export const IMPORT_VM_IMAGE_OUTPUT = structure({ requestId: text(), imageArn: text(), clientToken: text() });

export interface ImportVmImageInput {
  name?: string;
  semanticVersion?: string;
  description?: string;
  platform?: string;
  osVersion?: string;
  vmImportTaskId?: string;
  tags?: Record<string, string>;
  clientToken?: string;
}

export const IMPORT_VM_IMAGE: OperationSpec = {
  name: 'ImportVmImage',
  input: IMPORT_VM_IMAGE_INPUT,
  output: IMPORT_VM_IMAGE_OUTPUT,
  required: ['name', 'semanticVersion', 'platform', 'vmImportTaskId'],
  validate: (input) => validateImportVmImage(input as ImportVmImageInput),
  send: (input, client) => sendImportVmImage(input as ImportVmImageInput, client),
};

/** Throws the first rule broken, as a DiskError naming the field and echoing the value. */
export function validateImportVmImage(input: ImportVmImageInput): void {
  // The field goes in `field`, which every error line shows before the message (DiskError.describe).
  const fail = (code: ErrorCode, field: string, message: string) => new DiskError(code, message, { field });
  const { name, semanticVersion, platform } = input;
  if (name !== undefined && !NAME.test(name)) {
    throw fail('IMAGEBUILDER_NAME_INVALID', 'name', `${JSON.stringify(name)} is not an Image Builder name: 3 to 128 letters, digits, - and _, spaces inside only`);
  }
  if (semanticVersion !== undefined) checkSemanticVersion(semanticVersion, fail);
  if (platform !== undefined && !(PLATFORMS as readonly string[]).includes(platform)) {
    throw fail('IMAGEBUILDER_VALUE_INVALID', 'platform', `${JSON.stringify(platform)} is not one of ${PLATFORMS.join(', ')}`);
  }
  for (const field of ['description', 'osVersion', 'vmImportTaskId'] as const) {
    const value = input[field];
    if (value !== undefined && (value.length === 0 || value.length > MAX_TEXT)) throw fail('IMAGEBUILDER_VALUE_INVALID', field, `must be 1 to ${MAX_TEXT} characters, not ${value.length}`);
  }
  if (input.vmImportTaskId !== undefined && !/^import-ami-[0-9a-zA-Z]+$/.test(input.vmImportTaskId)) {
    throw fail('IMAGEBUILDER_VALUE_INVALID', 'vmImportTaskId', `${JSON.stringify(input.vmImportTaskId)} is not a VM import task id (import-ami-…)`);
  }
  const token = input.clientToken;
  if (token !== undefined && (token.length === 0 || token.length > MAX_CLIENT_TOKEN)) {
    throw fail('IMAGEBUILDER_VALUE_INVALID', 'clientToken', `must be 1 to ${MAX_CLIENT_TOKEN} characters, not ${token.length}`);
  }
  if (input.tags !== undefined) checkTags(input.tags, fail);
}

type Fail = (code: ErrorCode, field: string, message: string) => DiskError;

function checkSemanticVersion(version: string, fail: Fail): void {
  const parts = /^(\d+)\.(\d+)\.(\d+)$/.exec(version)?.slice(1);
  if (parts === undefined) throw fail('IMAGEBUILDER_VERSION_INVALID', 'semanticVersion', `${JSON.stringify(version)} is not <major>.<minor>.<patch> (three whole numbers, e.g. 1.0.0)`);
  const large = parts.find((part) => Number(part) > MAX_VERSION_PART);
  if (large !== undefined) {
    throw fail('IMAGEBUILDER_VERSION_INVALID', 'semanticVersion', `${JSON.stringify(version)}: ${large} is over ${MAX_VERSION_PART} (2^30-1), the largest value of each part`);
  }
}

function checkTags(tags: Record<string, string>, fail: Fail): void {
  const entries = Object.entries(tags);
  if (entries.length === 0 || entries.length > MAX_TAGS) throw fail('IMAGEBUILDER_TAGS_INVALID', 'tags', `give 1 to ${MAX_TAGS} tags, not ${entries.length}`);
  for (const [key, value] of entries) {
    const field = `tags.${key}`;
    if ([...key].length > MAX_TAG_KEY) throw fail('IMAGEBUILDER_TAGS_INVALID', field, `the key has ${[...key].length} characters; at most ${MAX_TAG_KEY}`);
    if (key.toLowerCase().startsWith('aws:')) throw fail('IMAGEBUILDER_TAGS_INVALID', field, 'keys starting with aws: are reserved for AWS');
    if (!TAG_KEY.test(key)) throw fail('IMAGEBUILDER_TAGS_INVALID', field, `${JSON.stringify(key)} holds characters a tag key cannot (letters, digits, spaces and _ . : / = + - @)`);
    if ([...value].length > MAX_TAG_VALUE) throw fail('IMAGEBUILDER_TAGS_INVALID', field, `the value has ${[...value].length} characters; at most ${MAX_TAG_VALUE}`);
  }
}

export async function sendImportVmImage(input: ImportVmImageInput, client: ClientOptions): Promise<unknown> {
  quietSdkWarning();
  const { ImportVmImageCommand } = await import('@aws-sdk/client-imagebuilder');
  const imagebuilder = await createImagebuilderClient(client);
  try {
    return await imagebuilder.send(new ImportVmImageCommand(input as ConstructorParameters<typeof ImportVmImageCommand>[0]));
  } catch (error) {
    throw imagebuilderError(error, 'ImportVmImage');
  } finally {
    imagebuilder.destroy();
  }
}

/** The Image Builder client, configured as every diskport AWS client is (src/aws/config.ts). */
export async function createImagebuilderClient(client: ClientOptions): Promise<ImagebuilderClient> {
  const config = baseClientConfig('IMAGEBUILDER', client);
  quietSdkWarning();
  const { ImagebuilderClient } = await import('@aws-sdk/client-imagebuilder');
  return new ImagebuilderClient(config);
}

/** A refusal the caller can fix (4xx) or any other failure, with the service's error name and message. */
export function imagebuilderError(error: unknown, what: string): DiskError {
  if (error instanceof DiskError) return error;
  const sdk = (error ?? {}) as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = sdk.$metadata?.httpStatusCode;
  const said = `${sdk.name ?? 'Error'}${status === undefined ? '' : `, HTTP ${status}`}${sdk.message ? `: ${sdk.message}` : ''}`;
  if (status !== undefined && status >= 400 && status < 500) return new DiskError('IMAGEBUILDER_REQUEST_REJECTED', `${what}: Image Builder refused the request (${said})`, { cause: error });
  return new DiskError('IMAGEBUILDER_REQUEST_FAILED', `${what} failed (${said})`, { cause: error });
}
