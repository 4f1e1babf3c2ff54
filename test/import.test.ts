/**
 * importImage, importStatus and cancelImport through the real AWS SDK clients against the VM Import sandbox on
 * loopback (tasks at speed 20: an import takes about 0.2 s). Requests are counted by the sandbox's own request
 * log, which proves that what fails validation sends nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImportImageTasksCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { check } from '../src/check.js';
import { cancelImport } from '../src/import/cancel.js';
import { importImage, type ImportEvent, type ImportOptions } from '../src/import/import.js';
import type { ImportOverrides } from '../src/import/request.js';
import { importStatus } from '../src/import/status.js';
import { inspect } from '../src/inspect.js';
import { OUTCOMES, SANDBOX_CREDENTIALS, SANDBOX_REGION, startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { S3Source } from '../src/source/s3.js';
import { expectDiskError, fixture } from './helpers.js';
import { clientsFor, upload } from './sandbox-helpers.js';

let sandbox: Sandbox;
let ec2: EC2Client;
let s3: S3Client;
let requests: string[] = [];
/** Every upload memo folder of these tests lives under this one, removed at the end. */
const scratch = mkdtempSync(join(tmpdir(), 'diskport-import-'));
const memoFolder = mkdtempSync(join(scratch, 'memo-'));

beforeAll(async () => {
  sandbox = await startSandbox({ speed: 20, log: (line) => requests.push(line) });
  ({ ec2, s3 } = clientsFor(sandbox));
  await upload(s3, sandbox.bucket, 'mbr-bios.vmdk', 'remote/mbr-bios.vmdk');
});

afterAll(async () => {
  ec2?.destroy();
  s3?.destroy();
  await sandbox?.close();
  rmSync(scratch, { recursive: true, force: true });
});

beforeEach(() => {
  requests = [];
});

/** Options pointing both clients at the sandbox, with a fresh upload memo unless given one. */
function settings(extra: ImportOptions = {}): ImportOptions {
  return {
    endpointUrl: sandbox.ec2Endpoint,
    s3EndpointUrl: sandbox.s3Endpoint,
    credentials: { ...SANDBOX_CREDENTIALS },
    region: SANDBOX_REGION,
    bucket: sandbox.bucket,
    memoFolder: mkdtempSync(join(scratch, 'memo-')),
    follow: { initialDelayMs: 20, maxDelayMs: 200 },
    ...extra,
  };
}

async function taskCount(): Promise<number> {
  const { ImportImageTasks } = await ec2.send(new DescribeImportImageTasksCommand({}));
  return ImportImageTasks?.length ?? 0;
}

describe('an s3:// object already in the bucket', () => {
  it('is checked where it lies, imported and followed to completed', async () => {
    const events: ImportEvent[] = [];
    const result = await importImage(`s3://${sandbox.bucket}/remote/mbr-bios.vmdk`, settings({ onEvent: (event) => events.push(event) }));
    expect(result.upload).toBeNull();
    expect(result.request).toMatchObject({
      BootMode: 'legacy-bios',
      Platform: 'Linux',
      DiskContainers: [{ Format: 'VMDK', UserBucket: { S3Bucket: sandbox.bucket, S3Key: 'remote/mbr-bios.vmdk' } }],
      ClientData: { Comment: 'diskport import' },
    });
    expect(result.clientToken).toMatch(/^diskport-[0-9a-f]{40}$/);
    expect(result.task).toMatchObject({ status: 'completed', platform: 'Linux', bootMode: 'legacy-bios', licenseType: 'BYOL' });
    expect(result.task!.imageId).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(result.task!.snapshots).toHaveLength(1);
    expect(result.task!.snapshots[0]!.snapshotId).toMatch(/^snap-/);
    // The check read the object by ranged GETs; the task went through the service's steps, in order, to the end.
    expect(events[0]).toMatchObject({ event: 'check', ok: true, convertTo: null });
    const steps = events.flatMap((event) => (event.event === 'task' ? [event.state.statusMessage ?? event.state.status] : []));
    expect(steps[0]).toBe('pending');
    expect(steps.at(-1)).toBe('completed');
    const progress = events.flatMap((event) => (event.event === 'task' && event.state.progress !== null ? [event.state.progress] : []));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('runs twice as one import: the same ClientToken gives back the first task', async () => {
    const url = `s3://${sandbox.bucket}/remote/mbr-bios.vmdk`;
    const first = await importImage(url, settings({ overrides: { Description: 'twice' }, wait: false }));
    const before = await taskCount();
    const second = await importImage(url, settings({ overrides: { Description: 'twice' } }));
    expect(second.taskId).toBe(first.taskId);
    expect(second.clientToken).toBe(first.clientToken);
    expect(await taskCount()).toBe(before);
    // Another parameter is another import.
    const other = await importImage(url, settings({ overrides: { Description: 'another' }, wait: false }));
    expect(other.taskId).not.toBe(first.taskId);
    expect(other.clientToken).not.toBe(first.clientToken);
  });
});

describe('a local file', () => {
  it('is uploaded, imported and followed; run again it reuses the upload and attaches to the first task', async () => {
    const options = settings({ memoFolder, prefix: 'twice/' });
    const first = await importImage(fixture('mbr-bios.vmdk'), options);
    expect(first.upload).toMatchObject({ url: `s3://${sandbox.bucket}/twice/mbr-bios.vmdk`, reused: false, xxh64: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(first.request.ClientData).toMatchObject({ UploadStart: new Date(first.upload!.uploadStart), UploadEnd: new Date(first.upload!.uploadEnd) });
    expect(first.task!.status).toBe('completed');
    const before = await taskCount();
    requests = [];

    const again = await importImage(fixture('mbr-bios.vmdk'), options);
    expect(again.upload).toMatchObject({ reused: true, xxh64: first.upload!.xxh64, uploadStart: first.upload!.uploadStart });
    expect(again.taskId).toBe(first.taskId);
    expect(again.task!.imageId).toBe(first.task!.imageId);
    expect(await taskCount()).toBe(before);
    expect(requests.filter((line) => /^s3 (PUT|POST)/.test(line))).toEqual([]);
  });

  it('in qcow2 is converted to a streamOptimized VMDK while uploading, and imported', async () => {
    const events: ImportEvent[] = [];
    const result = await importImage(fixture('mbr-bios.qcow2'), settings({ prefix: 'qcow2/', onEvent: (event) => events.push(event) }));
    expect(events[0]).toMatchObject({ event: 'check', ok: false, convertTo: 'vmdk' });
    expect(events.some((event) => event.event === 'progress' && event.phase === 'upload')).toBe(true);
    expect(result.convertedTo).toBe('vmdk');
    expect(result.request.DiskContainers).toEqual([{ Description: 'mbr-bios.qcow2', Format: 'VMDK', UserBucket: { S3Bucket: sandbox.bucket, S3Key: 'qcow2/mbr-bios.vmdk' } }]);
    expect(result.task).toMatchObject({ status: 'completed', bootMode: 'legacy-bios' });
    const uploaded = await inspect(await S3Source.open(result.upload!.url, { client: s3 }));
    expect(uploaded).toMatchObject({ format: 'vmdk', subformat: 'streamOptimized', virtualSize: (await inspect(fixture('mbr-bios.qcow2'))).virtualSize });
  });

  it('that VM Import refuses ends deleted with the ClientError for what check found (--force)', async () => {
    const report = await check(fixture('empty-stream.vmdk'));
    const first = report.findings.find((finding) => finding.severity === 'error')!;
    const result = await importImage(fixture('empty-stream.vmdk'), settings({ force: true, prefix: 'broken/' }));
    expect(result.task!.status).toBe('deleted');
    expect(result.task!.statusMessage).toBe(OUTCOMES[first.code]!.message({ format: 'VMDK' }));
  });
});

describe('with Image Builder', () => {
  it('registers the completed import (ImportVmImage) and returns its image ARN', async () => {
    const events: ImportEvent[] = [];
    const result = await importImage(
      fixture('mbr-bios.vmdk'),
      settings({
        prefix: 'ib/',
        imageBuilder: { name: 'web-base', semanticVersion: '1.2.3', platform: 'Linux' },
        imageBuilderEndpointUrl: sandbox.ec2Endpoint,
        onEvent: (event) => events.push(event),
      }),
    );
    expect(result.task!.status).toBe('completed');
    expect(result.imageBuilder?.imageArn).toMatch(/^arn:aws:imagebuilder:us-east-1:\d{12}:image\/web-base\/1\.2\.3\/1$/);
    expect(events.at(-1)).toEqual({ event: 'imagebuilder', imageArn: result.imageBuilder!.imageArn });
    expect(requests.some((line) => /ImportVmImage 200/.test(line))).toBe(true);
  });
});

describe('checked before any call', () => {
  // A sandbox of their own, where no task ever runs: its log holds only what these tests send.
  let quiet: Sandbox;
  let sent: string[] = [];
  beforeAll(async () => {
    quiet = await startSandbox({ log: (line) => sent.push(line) });
  });
  afterAll(() => quiet?.close());
  beforeEach(() => {
    sent = [];
  });
  const quietSettings = (extra: ImportOptions = {}) =>
    settings({ endpointUrl: quiet.ec2Endpoint, s3EndpointUrl: quiet.s3Endpoint, bucket: quiet.bucket, ...extra });

  const refusals: [string, ImportOptions['overrides'], string][] = [
    ['KmsKeyId without Encrypted', { KmsKeyId: 'alias/mine' }, 'IMPORT_KMS_WITHOUT_ENCRYPTION'],
    ['a tag key over 127 characters', { TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'k'.repeat(128), Value: 'v' }] }] }, 'IMPORT_TAG_KEY_TOO_LONG'],
    ['a tag value over 256 characters', { TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'k', Value: 'é'.repeat(257) }] }] }, 'IMPORT_TAG_VALUE_TOO_LONG'],
    ['a tag key starting with aws:', { TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'AWS:owner', Value: 'me' }] }] }, 'IMPORT_TAG_KEY_RESERVED'],
    ['a Format outside the enum', { DiskContainers: [{ Format: 'QCOW2' }] }, 'IMPORT_VALUE_INVALID'],
    ['a BootMode outside the enum', { BootMode: 'bios' as ImportOverrides['BootMode'] }, 'IMPORT_VALUE_INVALID'],
    ['a LicenseType outside the enum', { LicenseType: 'byol-ish' }, 'IMPORT_VALUE_INVALID'],
    ['Url and UserBucket together', { DiskContainers: [{ Url: 's3://elsewhere/disk.vmdk', UserBucket: { S3Bucket: 'b', S3Key: 'k' } }] }, 'IMPORT_DISK_SOURCE_CONFLICT'],
    ['a ClientToken over 64 characters', { ClientToken: 't'.repeat(65) }, 'IMPORT_CLIENT_TOKEN_INVALID'],
  ];

  it.each(refusals)('%s', async (_name, overrides, code) => {
    const error = await expectDiskError(importImage(fixture('mbr-bios.vmdk'), quietSettings({ overrides })), code);
    expect(error.exitStatus).toBe(2);
    expect(error.field).toBeDefined();
    expect(sent).toEqual([]);
  });

  it('a tag within the limits passes (127 and 256 characters, counted as characters)', async () => {
    const tags = [{ Key: 'ü'.repeat(127), Value: '😀'.repeat(256) }];
    const result = await importImage(fixture('mbr-bios.vmdk'), quietSettings({ overrides: { DryRun: true, TagSpecifications: [{ ResourceType: 'import-image-task', Tags: tags }] } }));
    expect(result.dryRun).toBe(true);
    expect(sent).toEqual([expect.stringMatching(/^ec2 ImportImage DryRunOperation 412 /)]);
  });

  it('an image check finds errors in is not imported unless forced', async () => {
    const error = await expectDiskError(importImage(fixture('empty-stream.vmdk'), quietSettings()), 'IMPORT_CHECK_FAILED');
    expect(error.message).toContain('PT_NONE');
    expect(sent).toEqual([]);
  });

  it('a boot mode the disk contradicts is a check error too', async () => {
    await expectDiskError(importImage(fixture('mbr-bios.vmdk'), quietSettings({ overrides: { BootMode: 'uefi' } })), 'IMPORT_CHECK_FAILED');
    expect(sent).toEqual([]);
  });

  it('an Image Builder request that breaks its rules (a two-part version) sends nothing', async () => {
    const imageBuilder = { name: 'web', semanticVersion: '1.0', platform: 'Linux' };
    const error = await expectDiskError(importImage(fixture('mbr-bios.vmdk'), quietSettings({ imageBuilder })), 'IMAGEBUILDER_VERSION_INVALID');
    expect(error.field).toBe('semanticVersion');
    await expectDiskError(importImage(fixture('mbr-bios.vmdk'), quietSettings({ imageBuilder: { name: 'web', semanticVersion: '1.0.0' } })), 'USAGE');
    expect(sent).toEqual([]);
  });

  it('a local file needs a bucket', async () => {
    await expectDiskError(importImage(fixture('mbr-bios.vmdk'), quietSettings({ bucket: undefined })), 'USAGE');
  });
});

describe('DryRun', () => {
  it('asks EC2 with DryRun: nothing is uploaded, no task is started', async () => {
    const before = await taskCount();
    requests = [];
    const result = await importImage(fixture('mbr-bios.vmdk'), settings({ overrides: { DryRun: true } }));
    expect(result).toMatchObject({ dryRun: true, taskId: null, upload: null, request: { DryRun: true } });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatch(/^ec2 ImportImage DryRunOperation 412 /);
    expect(await taskCount()).toBe(before);
  });

  it('reports what EC2 would refuse: a service role that does not exist', async () => {
    const error = await expectDiskError(importImage(fixture('mbr-bios.vmdk'), settings({ overrides: { DryRun: true, RoleName: 'no-such-role' } })), 'EC2_REQUEST_REJECTED');
    expect(error.message).toContain('no-such-role');
  });
});

describe('status and cancel', () => {
  it('--no-wait returns the started task; status follows it; cancel ends it deleted', async () => {
    const slow = await startSandbox({ speed: 0.5 });
    const options = { endpointUrl: slow.ec2Endpoint, s3EndpointUrl: slow.s3Endpoint, credentials: { ...SANDBOX_CREDENTIALS }, region: SANDBOX_REGION };
    try {
      const started = await importImage(fixture('mbr-bios.vmdk'), settings({ ...options, bucket: slow.bucket, wait: false }));
      expect(started.task).toMatchObject({ status: 'active', statusMessage: 'pending' });
      expect((await importStatus(started.taskId!, options)).status).toBe('active');
      const cancelled = await cancelImport(started.taskId!, { ...options, reason: 'changed my mind' });
      expect(cancelled).toEqual({ taskId: started.taskId, previousState: 'active', state: 'deleting' });
      const after = await importStatus(started.taskId!, options);
      expect(after.status).toMatch(/^delet(ing|ed)$/);
      expect(after.statusMessage).toBe('changed my mind');
      await expectDiskError(cancelImport(started.taskId!, options), 'IMPORT_TASK_NOT_ACTIVE');
    } finally {
      await slow.close();
    }
  });

  it('an unknown task id is IMPORT_TASK_NOT_FOUND', async () => {
    const options = settings();
    await expectDiskError(importStatus('import-ami-0123456789abcdef0', options), 'IMPORT_TASK_NOT_FOUND');
    await expectDiskError(cancelImport('import-ami-0123456789abcdef0', options), 'IMPORT_TASK_NOT_FOUND');
  });

  it('the same --client-token with other parameters is IMPORT_TOKEN_MISMATCH', async () => {
    const url = `s3://${sandbox.bucket}/remote/mbr-bios.vmdk`;
    await importImage(url, settings({ overrides: { ClientToken: 'mine-1', Description: 'a' }, wait: false }));
    await expectDiskError(importImage(url, settings({ overrides: { ClientToken: 'mine-1', Description: 'b' }, wait: false })), 'IMPORT_TOKEN_MISMATCH');
  });

  it('an aborted follow stops with IMPORT_INTERRUPTED and leaves the task running', async () => {
    const abort = new AbortController();
    const work = importImage(`s3://${sandbox.bucket}/remote/mbr-bios.vmdk`, settings({
      overrides: { Description: 'interrupted' },
      signal: abort.signal,
      onEvent: (event) => event.event === 'started' && abort.abort(),
    }));
    const error = await expectDiskError(work, 'IMPORT_INTERRUPTED');
    const taskId = /import-ami-[0-9a-f]+/.exec(error.message)![0];
    expect(['active', 'completed']).toContain((await importStatus(taskId, settings())).status);
  });
});
