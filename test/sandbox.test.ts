/**
 * The VM Import sandbox through the real AWS SDK clients (@aws-sdk/client-ec2, @aws-sdk/client-s3) on loopback:
 * imports that complete or fail as the preflight says, DryRun, cancel, ClientToken idempotence, the synchronous
 * errors, filters and pages, DescribeImages. Tasks run at speed 10 (an import takes about 0.4 s).
 */
import { statSync } from 'node:fs';
import {
  CancelImportTaskCommand,
  DescribeImagesCommand,
  DescribeImportImageTasksCommand,
  ImportImageCommand,
  paginateDescribeImportImageTasks,
  type EC2Client,
  type ImportImageCommandInput,
} from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../src/check.js';
import { OUTCOMES, startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { fixture } from './helpers.js';
import { clientsFor, failureOf, follow, upload } from './sandbox-helpers.js';

let sandbox: Sandbox;
let ec2: EC2Client;
let s3: S3Client;
const bucket = 'diskport-sandbox';

const fromBucket = (key: string, Format = 'VMDK'): ImportImageCommandInput['DiskContainers'] => [{ Format, UserBucket: { S3Bucket: bucket, S3Key: key } }];
const importImage = (input: ImportImageCommandInput) => ec2.send(new ImportImageCommand(input));

beforeAll(async () => {
  sandbox = await startSandbox({ speed: 10, roles: ['vmimport', 'custom-import-role'] });
  ({ ec2, s3 } = clientsFor(sandbox));
  for (const name of ['mbr-bios.vmdk', 'empty-stream.vmdk', 'odd-sparse.vmdk', 'ova-two-disks.ova', 'mbr-bios-dynamic.vhd']) await upload(s3, bucket, name);
});

afterAll(async () => {
  ec2?.destroy();
  s3?.destroy();
  await sandbox?.close();
});

describe('startSandbox', () => {
  it('gives one loopback endpoint for S3 and EC2, and the environment the SDKs and the CLI read', () => {
    expect(sandbox.s3Endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sandbox.env).toEqual({
      AWS_ENDPOINT_URL_S3: sandbox.s3Endpoint,
      AWS_ENDPOINT_URL_EC2: sandbox.ec2Endpoint,
      AWS_ENDPOINT_URL_IMAGEBUILDER: sandbox.ec2Endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
    });
  });
});

describe('an import that VM Import accepts', () => {
  it('goes through the service statuses to completed, with an AMI, snapshots and the guest facts', async () => {
    const started = await importImage({ DiskContainers: fromBucket('mbr-bios.vmdk'), Description: 'good one' });
    expect(started).toMatchObject({ Status: 'active', StatusMessage: 'pending', Progress: '2', Description: 'good one' });
    expect(started.ImportTaskId).toMatch(/^import-ami-[0-9a-f]{17}$/);
    expect(started.SnapshotDetails).toEqual([{ DiskImageSize: 0, Format: 'VMDK', UserBucket: { S3Bucket: bucket, S3Key: 'mbr-bios.vmdk' } }]);

    const { task, seen, progress } = await follow(ec2, started.ImportTaskId!);
    const order = ['active/pending', 'active/validating', 'active/validated', 'active/converting', 'active/updating', 'active/booting', 'active/booted', 'active/preparing ami', 'completed/'];
    expect(seen.map((s) => order.indexOf(s))).toEqual([...seen.map((s) => order.indexOf(s))].sort((a, b) => a - b));
    expect(seen).toContain('completed/');
    expect(seen.every((s) => order.includes(s))).toBe(true);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(task).toMatchObject({ Status: 'completed', Platform: 'Linux', Architecture: 'x86_64', BootMode: 'legacy-bios', LicenseType: 'BYOL' });
    expect(task.StatusMessage).toBeUndefined();
    expect(task.ImageId).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(task.SnapshotDetails).toEqual([
      {
        DeviceName: '/dev/sda1',
        DiskImageSize: statSync(fixture('mbr-bios.vmdk')).size,
        Format: 'VMDK',
        SnapshotId: expect.stringMatching(/^snap-[0-9a-f]{17}$/),
        Status: 'completed',
        UserBucket: { S3Bucket: bucket, S3Key: 'mbr-bios.vmdk' },
      },
    ]);

    const { Images } = await ec2.send(new DescribeImagesCommand({ ImageIds: [task.ImageId!] }));
    expect(Images).toHaveLength(1);
    expect(Images![0]).toMatchObject({
      ImageId: task.ImageId,
      State: 'available',
      Architecture: 'x86_64',
      BootMode: 'legacy-bios',
      PlatformDetails: 'Linux/UNIX',
      Name: task.ImportTaskId,
      RootDeviceName: '/dev/sda1',
      BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { SnapshotId: task.SnapshotDetails![0]!.SnapshotId, VolumeSize: 1 } }],
    });
    expect(Images![0]!.Platform).toBeUndefined();
  });

  it('takes an s3:// Url, VHD, and an OVA whose two disks become two snapshots', async () => {
    const byUrl = await importImage({ DiskContainers: [{ Format: 'vhd', Url: `s3://${bucket}/mbr-bios-dynamic.vhd` }] });
    const ova = await importImage({ DiskContainers: fromBucket('ova-two-disks.ova', 'OVA'), Platform: 'Linux', LicenseType: 'AWS' });
    const [vhd, two] = await Promise.all([follow(ec2, byUrl.ImportTaskId!), follow(ec2, ova.ImportTaskId!)]);
    expect(vhd.task).toMatchObject({ Status: 'completed', SnapshotDetails: [{ Format: 'VHD', Url: `s3://${bucket}/mbr-bios-dynamic.vhd` }] });
    expect(two.task.Status).toBe('completed');
    expect(two.task.LicenseType).toBe('AWS');
    expect(two.task.SnapshotDetails!.map((d) => d.DeviceName)).toEqual(['/dev/sda1', '/dev/sdb']);
    const { Images } = await ec2.send(new DescribeImagesCommand({ ImageIds: [two.task.ImageId!] }));
    expect(Images![0]!.BlockDeviceMappings!.map((m) => m.Ebs!.SnapshotId)).toEqual(two.task.SnapshotDetails!.map((d) => d.SnapshotId));
  });
});

describe('an import VM Import refuses', () => {
  it.each(['empty-stream.vmdk', 'odd-sparse.vmdk'])('%s ends deleted with the ClientError for what check found first', async (name) => {
    const report = await check(fixture(name));
    const first = report.findings[0]!;
    expect(first.severity).toBe('error');
    const started = await importImage({ DiskContainers: fromBucket(name) });
    const { task, seen } = await follow(ec2, started.ImportTaskId!);
    expect(task.Status).toBe('deleted');
    expect(task.StatusMessage).toBe(OUTCOMES[first.code]!.message({ format: 'VMDK' }));
    expect(task.StatusMessage).toMatch(/^ClientError: /);
    expect(seen).toContain(`deleting/${task.StatusMessage}`);
    expect(task.ImageId).toBeUndefined();
  });

  it('fails a missing object as S3 answered, and a Format that is not the file\'s', async () => {
    const missing = await importImage({ DiskContainers: fromBucket('no-such-key.vmdk') });
    const wrong = await importImage({ DiskContainers: fromBucket('mbr-bios.vmdk', 'VHDX') });
    const [gone, mismatch] = await Promise.all([follow(ec2, missing.ImportTaskId!), follow(ec2, wrong.ImportTaskId!)]);
    expect(gone.task).toMatchObject({
      Status: 'deleted',
      StatusMessage: 'ClientError: Disk validation failed [We do not have access to the given resource. Reason 404 Not Found]',
    });
    expect(mismatch.task).toMatchObject({ Status: 'deleted', StatusMessage: 'ClientError: Disk validation failed [Unsupported VHDX format]' });
  });
});

describe('DryRun', () => {
  it('answers DryRunOperation (412) when the call would succeed, and starts nothing', async () => {
    const before = await countTasks();
    for (const call of [
      importImage({ DiskContainers: fromBucket('mbr-bios.vmdk'), DryRun: true }),
      ec2.send(new DescribeImportImageTasksCommand({ DryRun: true })),
      ec2.send(new DescribeImagesCommand({ DryRun: true })),
    ]) {
      expect(await failureOf(call)).toEqual({ code: 'DryRunOperation', status: 412, message: 'Request would have succeeded, but DryRun flag is set.' });
    }
    expect(await countTasks()).toBe(before);
  });

  it('answers the real error when the call would fail', async () => {
    const failure = await failureOf(importImage({ DiskContainers: fromBucket('mbr-bios.vmdk'), DryRun: true, RoleName: 'nobody' }));
    expect(failure).toMatchObject({ code: 'InvalidParameter', status: 400 });
  });
});

describe('CancelImportTask', () => {
  it('moves an active task to deleting, then deleted with the reason; a second cancel is refused', async () => {
    const started = await importImage({ DiskContainers: fromBucket('mbr-bios.vmdk') });
    const dry = await failureOf(ec2.send(new CancelImportTaskCommand({ ImportTaskId: started.ImportTaskId, DryRun: true })));
    expect(dry.code).toBe('DryRunOperation');
    const cancelled = await ec2.send(new CancelImportTaskCommand({ ImportTaskId: started.ImportTaskId, CancelReason: 'changed my mind' }));
    expect(cancelled).toMatchObject({ ImportTaskId: started.ImportTaskId, PreviousState: 'active', State: 'deleting' });
    const { task } = await follow(ec2, started.ImportTaskId!);
    expect(task).toMatchObject({ Status: 'deleted', StatusMessage: 'changed my mind' });
    expect(task.ImageId).toBeUndefined();
    expect((await failureOf(ec2.send(new CancelImportTaskCommand({ ImportTaskId: started.ImportTaskId })))).code).toBe('IncorrectState');
  });

  it('refuses a task id that does not exist, or is malformed', async () => {
    for (const id of ['import-ami-0123456789abcdef0', 'ami-123']) {
      expect((await failureOf(ec2.send(new CancelImportTaskCommand({ ImportTaskId: id })))).code).toBe('InvalidConversionTaskId.Malformed');
      expect((await failureOf(ec2.send(new DescribeImportImageTasksCommand({ ImportTaskIds: [id] })))).code).toBe('InvalidConversionTaskId.Malformed');
    }
    expect((await failureOf(ec2.send(new CancelImportTaskCommand({}))))).toMatchObject({ code: 'MissingParameter' });
  });
});

describe('ClientToken', () => {
  it('attaches a rerun with the same token and parameters to the first task', async () => {
    const input = { DiskContainers: fromBucket('mbr-bios.vmdk'), ClientToken: `token-${Date.now()}` };
    const first = await importImage(input);
    const before = await countTasks();
    const again = await importImage(input);
    expect(again.ImportTaskId).toBe(first.ImportTaskId);
    expect(await countTasks()).toBe(before);
    const mismatch = await failureOf(importImage({ ...input, Description: 'something else' }));
    expect(mismatch).toMatchObject({ code: 'IdempotentParameterMismatch', status: 400 });
    await follow(ec2, first.ImportTaskId!);
  });
});

describe('synchronous errors', () => {
  const good = fromBucket('mbr-bios.vmdk');
  it.each<[string, ImportImageCommandInput, string, RegExp]>([
    ['no disk containers', {}, 'MissingParameter', /DiskContainer/],
    ['a container with neither Url nor UserBucket', { DiskContainers: [{ Format: 'VMDK' }] }, 'MissingParameter', /DiskContainer\.1\.UserBucket/],
    ['a UserBucket without S3Key', { DiskContainers: [{ UserBucket: { S3Bucket: bucket } }] }, 'MissingParameter', /UserBucket\.S3Key/],
    ['both Url and UserBucket', { DiskContainers: [{ Url: `s3://${bucket}/x`, UserBucket: { S3Bucket: bucket, S3Key: 'x' } }] }, 'InvalidParameterCombination', /Url or UserBucket/],
    ['a Format outside the enum', { DiskContainers: fromBucket('mbr-bios.vmdk', 'QCOW2') }, 'InvalidParameterValue', /QCOW2.*Format/],
    ['a BootMode outside the enum', { DiskContainers: good, BootMode: 'bios' as never }, 'InvalidParameterValue', /BootMode/],
    ['BootMode uefi-preferred', { DiskContainers: good, BootMode: 'uefi-preferred' }, 'InvalidParameterValue', /uefi-preferred/],
    ['Architecture arm64', { DiskContainers: good, Architecture: 'arm64' }, 'InvalidParameterValue', /arm64/],
    ['KmsKeyId without Encrypted', { DiskContainers: good, KmsKeyId: 'alias/x' }, 'InvalidParameterCombination', /Encrypted/],
    ['a tag key of 128 characters', { DiskContainers: good, TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'k'.repeat(128), Value: 'v' }] }] }, 'InvalidParameterValue', /127/],
    ['a tag value of 257 characters', { DiskContainers: good, TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] }] }, 'InvalidParameterValue', /256/],
    ['a tag key starting with aws:', { DiskContainers: good, TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'aws:x', Value: 'v' }] }] }, 'InvalidParameterValue', /aws:/],
    ['tags on another resource type', { DiskContainers: good, TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'k', Value: 'v' }] }] }, 'InvalidParameterValue', /'image' is not a valid taggable resource type/],
    ['a role that does not exist', { DiskContainers: good, RoleName: 'vmimport-typo' }, 'InvalidParameter', /The service role vmimport-typo provided does not exist/],
    ['an EBS snapshot source', { DiskContainers: [{ SnapshotId: 'snap-0123456789abcdef0' }] }, 'UnsupportedOperation', /SnapshotId/],
    ['a Url that is not S3', { DiskContainers: [{ Url: 'ftp://host/x.vmdk' }] }, 'InvalidParameter', /Invalid S3 source location/],
  ])('%s: %s', async (_what, input, code, message) => {
    const before = await countTasks();
    const failure = await failureOf(importImage(input));
    expect(failure).toMatchObject({ code, status: 400 });
    expect(failure.message).toMatch(message);
    expect(await countTasks()).toBe(before);
  });

  it('accepts another role the account has, and tags on the import task', async () => {
    const started = await importImage({
      DiskContainers: good,
      RoleName: 'custom-import-role',
      TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'team', Value: 'infra' }] }],
    });
    expect(started.Tags).toEqual([{ Key: 'team', Value: 'infra' }]);
    await follow(ec2, started.ImportTaskId!);
  });

  it('answers EC2-shaped XML errors on the raw protocol: no signature, unknown action, unknown parameter', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(sandbox.ec2Endpoint, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
    const signed = { authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}` };
    const unsigned = await post('Action=DescribeImages&Version=2016-11-15');
    expect(unsigned.status).toBe(401);
    expect(await unsigned.text()).toMatch(/^<\?xml[^>]*>\s*<Response><Errors><Error><Code>MissingAuthenticationToken<\/Code><Message>[^<]+<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/);
    const s3Scoped = await post('Action=DescribeImages&Version=2016-11-15', { authorization: signed.authorization.replace('/ec2/', '/s3/') });
    expect(s3Scoped.status).toBe(401);
    expect(await s3Scoped.text()).toContain('<Code>AuthFailure</Code>');
    const unknown = await post('Action=RunInstances&Version=2016-11-15', signed);
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('<Code>InvalidAction</Code>');
    const extra = await post('Action=DescribeImages&Version=2016-11-15&Frobnicate=1', signed);
    expect(await extra.text()).toContain('<Code>UnknownParameter</Code>');
    const version = await post('Action=DescribeImages&Version=2014-01-01', signed);
    expect(await version.text()).toContain('<Code>NoSuchVersion</Code>');
    const ok = await fetch(`${sandbox.ec2Endpoint}/?Action=DescribeImages&Version=2016-11-15`, { headers: signed });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/<DescribeImagesResponse xmlns="http:\/\/ec2\.amazonaws\.com\/doc\/2016-11-15\/"><requestId>/);
  });
});

describe('DescribeImportImageTasks and DescribeImages', () => {
  it('filters by task-state and pages with MaxResults / NextToken', async () => {
    const all = await allTasks();
    const pages = [];
    for await (const page of paginateDescribeImportImageTasks({ client: ec2, pageSize: 2 }, {})) pages.push(page.ImportImageTasks!.map((t) => t.ImportTaskId));
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.every((page) => page.length <= 2)).toBe(true);
    expect(pages.flat()).toEqual(all.map((t) => t.ImportTaskId));
    const { ImportImageTasks: deleted } = await ec2.send(new DescribeImportImageTasksCommand({ Filters: [{ Name: 'task-state', Values: ['deleted'] }] }));
    expect(deleted!.length).toBeGreaterThan(0);
    expect(deleted!.every((t) => t.Status === 'deleted')).toBe(true);
    const bad = await failureOf(ec2.send(new DescribeImportImageTasksCommand({ Filters: [{ Name: 'colour', Values: ['x'] }] })));
    expect(bad.code).toBe('InvalidParameterValue');
    const token = await failureOf(ec2.send(new DescribeImportImageTasksCommand({ NextToken: 'bm90LWEtdGFzaw' })));
    expect(token.code).toBe('InvalidPaginationToken');
  });

  it('lists the AMIs imports made, by owner and filter; unknown ids are errors', async () => {
    const completed = (await allTasks()).filter((t) => t.Status === 'completed');
    const { Images } = await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(Images!.map((i) => i.ImageId).sort()).toEqual(completed.map((t) => t.ImageId).sort());
    const { Images: amazon } = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
    expect(amazon).toEqual([]);
    const { Images: one } = await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'image-id', Values: [completed[0]!.ImageId!] }] }));
    expect(one!.map((i) => i.ImageId)).toEqual([completed[0]!.ImageId]);
    expect((await failureOf(ec2.send(new DescribeImagesCommand({ ImageIds: ['ami-0123456789abcdef0'] })))).code).toBe('InvalidAMIID.NotFound');
    expect((await failureOf(ec2.send(new DescribeImagesCommand({ ImageIds: ['img-1'] })))).code).toBe('InvalidAMIID.Malformed');
  });
});

async function allTasks() {
  return (await ec2.send(new DescribeImportImageTasksCommand({}))).ImportImageTasks!;
}

async function countTasks(): Promise<number> {
  return (await allTasks()).length;
}
