/**
 * Every check made before sending: each bad argument list fails with its code, names the field, and the loopback
 * recorder receives nothing. Runs the commands in-process (runOperation, as the CLI calls it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMPORT_VM_IMAGE, MAX_VERSION_PART } from '../src/awscli/imagebuilder.js';
import { IMPORT_IMAGE } from '../src/awscli/import-image.js';
import { runOperation, type OperationOptions, type OperationSpec } from '../src/awscli/operation.js';
import { expectDiskError } from './helpers.js';
import { startRecorder, type Recorder } from './awscli-recorder.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
let recorder: Recorder;
beforeAll(async () => {
  recorder = await startRecorder();
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'dummy-secret' });
});
afterAll(() => recorder.close());

const disk = ['Format=VMDK,UserBucket={S3Bucket=b,S3Key=k}'];
const vm = { name: 'web-base', semanticVersion: '1.0.0', platform: 'Linux', vmImportTaskId: 'import-ami-0123456789abcdef0' };

async function refused(spec: OperationSpec, options: OperationOptions, code: string, field: string): Promise<void> {
  const before = recorder.requests.length;
  const error = await expectDiskError(runOperation(spec, { ...options, endpointUrl: recorder.endpoint, region: 'us-east-1' }, () => undefined), code);
  expect(error.field).toBe(field);
  // The CLI's line (describe()) names the field, whatever the message says.
  expect(error.describe()).toContain(field.replace(/^--/, '').split('.')[0]!.replace(/\[\d+\]/, ''));
  expect(recorder.requests.length).toBe(before);
}

describe('import-image: refused before sending', () => {
  it.each<[string, OperationOptions, string, string]>([
    ['an architecture', { diskContainers: disk, architecture: 'arm64' }, 'IMPORT_VALUE_INVALID', 'Architecture'],
    ['a boot mode', { diskContainers: disk, bootMode: 'bios' }, 'IMPORT_VALUE_INVALID', 'BootMode'],
    ['a hypervisor', { diskContainers: disk, hypervisor: 'kvm' }, 'IMPORT_VALUE_INVALID', 'Hypervisor'],
    ['a license type', { diskContainers: disk, licenseType: 'GPL' }, 'IMPORT_VALUE_INVALID', 'LicenseType'],
    ['a platform', { diskContainers: disk, platform: 'BeOS' }, 'IMPORT_VALUE_INVALID', 'Platform'],
    ['a disk format', { diskContainers: ['Format=QCOW2,Url=s3://b/k'] }, 'IMPORT_VALUE_INVALID', 'DiskContainers[0].Format'],
    ['a KMS key without --encrypted', { diskContainers: disk, kmsKeyId: 'alias/x' }, 'IMPORT_KMS_WITHOUT_ENCRYPTION', 'KmsKeyId'],
    ['a tag key over 127 characters', { diskContainers: disk, tagSpecifications: [`ResourceType=import-image-task,Tags=[{Key=${'k'.repeat(128)},Value=v}]`] }, 'IMPORT_TAG_KEY_TOO_LONG', 'TagSpecifications[0].Tags[0].Key'],
    ['a tag key starting aws:', { diskContainers: disk, tagSpecifications: ['ResourceType=import-image-task,Tags=[{Key=aws:x,Value=v}]'] }, 'IMPORT_TAG_KEY_RESERVED', 'TagSpecifications[0].Tags[0].Key'],
    ['a tag value over 256 characters', { diskContainers: disk, tagSpecifications: [`ResourceType=import-image-task,Tags=[{Key=k,Value=${'v'.repeat(257)}}]`] }, 'IMPORT_TAG_VALUE_TOO_LONG', 'TagSpecifications[0].Tags[0].Value'],
    ['a disk with Url and UserBucket', { diskContainers: ['Url=s3://b/k,UserBucket={S3Bucket=b,S3Key=k}'] }, 'IMPORT_DISK_SOURCE_CONFLICT', 'DiskContainers[0]'],
    ['a disk with no source', { diskContainers: ['Format=VMDK'] }, 'IMPORT_DISK_SOURCE_MISSING', 'DiskContainers[0]'],
    ['no disk', { description: 'x' }, 'IMPORT_DISK_SOURCE_MISSING', 'DiskContainers'],
    ['a client token over 64 characters', { diskContainers: disk, clientToken: 't'.repeat(65) }, 'IMPORT_CLIENT_TOKEN_INVALID', 'ClientToken'],
    ['an unknown member', { diskContainers: ['Format=VMDK,Bucket=b'] }, 'USAGE', 'DiskContainers[0].Bucket'],
    ['a number that is not one', { diskContainers: disk, clientData: 'UploadSize=big' }, 'USAGE', 'ClientData.UploadSize'],
    ['a timestamp that is not one', { diskContainers: disk, clientData: 'UploadStart=yesterday' }, 'USAGE', 'ClientData.UploadStart'],
    ['a JSON type', { diskContainers: ['[{"Format": 5, "Url": "s3://b/k"}]'] }, 'USAGE', 'DiskContainers[0].Format'],
    ['bad JSON', { diskContainers: ['[{"Format": '] }, 'USAGE', '--disk-containers'],
    ['bad shorthand', { diskContainers: ['Format=VMDK,UserBucket={S3Bucket=b'] }, 'USAGE', '--disk-containers'],
    ['an unknown input member', { cliInputJson: '{"Disks": []}' }, 'USAGE', 'Disks'],
    ['both input documents', { cliInputJson: '{}', cliInputYaml: 'a: 1' }, 'USAGE', '--cli-input-json'],
    ['an output format', { diskContainers: disk, output: 'xml' }, 'USAGE', '--output'],
    ['a skeleton kind', { generateCliSkeleton: 'everything' }, 'USAGE', '--generate-cli-skeleton'],
  ])('%s', async (_name, options, code, field) => refused(IMPORT_IMAGE, options, code, field));
});

describe('import-vm-image: refused before sending', () => {
  it.each<[string, OperationOptions, string, string]>([
    ['a name with a slash', { ...vm, name: 'web/base' }, 'IMAGEBUILDER_NAME_INVALID', 'name'],
    ['a name of two characters', { ...vm, name: 'ab' }, 'IMAGEBUILDER_NAME_INVALID', 'name'],
    ['a name over 128 characters', { ...vm, name: 'a'.repeat(129) }, 'IMAGEBUILDER_NAME_INVALID', 'name'],
    ['a version of two parts', { ...vm, semanticVersion: '1.0' }, 'IMAGEBUILDER_VERSION_INVALID', 'semanticVersion'],
    ['a version with a build', { ...vm, semanticVersion: '1.0.0/1' }, 'IMAGEBUILDER_VERSION_INVALID', 'semanticVersion'],
    ['a version part over 2^30-1', { ...vm, semanticVersion: `1.${MAX_VERSION_PART + 1}.0` }, 'IMAGEBUILDER_VERSION_INVALID', 'semanticVersion'],
    ['a platform', { ...vm, platform: 'linux' }, 'IMAGEBUILDER_VALUE_INVALID', 'platform'],
    ['an empty OS version', { ...vm, osVersion: '' }, 'IMAGEBUILDER_VALUE_INVALID', 'osVersion'],
    ['a description over 1024 characters', { ...vm, description: 'd'.repeat(1025) }, 'IMAGEBUILDER_VALUE_INVALID', 'description'],
    ['a task id that is not one', { ...vm, vmImportTaskId: 'ami-0123' }, 'IMAGEBUILDER_VALUE_INVALID', 'vmImportTaskId'],
    ['a client token over 64 characters', { ...vm, clientToken: 'c'.repeat(65) }, 'IMAGEBUILDER_VALUE_INVALID', 'clientToken'],
    ['51 tags', { ...vm, tags: JSON.stringify(Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))) }, 'IMAGEBUILDER_TAGS_INVALID', 'tags'],
    ['a tag key starting aws:', { ...vm, tags: 'aws:owner=me' }, 'IMAGEBUILDER_TAGS_INVALID', 'tags.aws:owner'],
    ['a tag key over 128 characters', { ...vm, tags: `${'k'.repeat(129)}=v` }, 'IMAGEBUILDER_TAGS_INVALID', `tags.${'k'.repeat(129)}`],
    ['a tag key with a bad character', { ...vm, tags: '{"a*b": "v"}' }, 'IMAGEBUILDER_TAGS_INVALID', 'tags.a*b'],
    ['a tag value over 256 characters', { ...vm, tags: `k=${'v'.repeat(257)}` }, 'IMAGEBUILDER_TAGS_INVALID', 'tags.k'],
    ['a tag value that is a list', { ...vm, tags: 'k=a,b' }, 'USAGE', 'tags.k'],
    ['no name', { ...vm, name: undefined }, 'USAGE', 'name'],
    ['no task id', { ...vm, vmImportTaskId: undefined }, 'USAGE', 'vmImportTaskId'],
  ])('%s', async (_name, options, code, field) => refused(IMPORT_VM_IMAGE, options, code, field));
});
