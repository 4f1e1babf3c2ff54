/** The sandbox's parts on their own: the EC2 query parser, the outcome table, the standalone S3 server. */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { RULES } from '../src/preflight/index.js';
import { REFUSAL_CODES } from '../src/preflight/refusals.js';
import { FAILING_WARNINGS, OUTCOMES } from '../src/sandbox/outcomes.js';
import { parseInput } from '../src/sandbox/query.js';
import { DEFAULT_BUCKET, SANDBOX_REGION, startSandboxS3 } from '../src/sandbox/s3.js';
import { Ec2Fault } from '../src/sandbox/faults.js';
import { expectDiskError } from './helpers.js';
import { clientsFor, failureOf } from './sandbox-helpers.js';

const fields = (entries: Record<string, string>) => new Map(Object.entries(entries));

function faultOf(work: () => unknown): Ec2Fault {
  try {
    work();
  } catch (error) {
    if (error instanceof Ec2Fault) return error;
    throw error;
  }
  throw new Error('expected an Ec2Fault');
}

describe('the EC2 query parser', () => {
  it('builds the boto3 shape from flattened lists, nested structures and typed scalars', () => {
    const input = parseInput(
      'ImportImage',
      fields({
        'DiskContainer.2.Url': 's3://b/second.vmdk',
        'DiskContainer.1.Format': 'VMDK',
        'DiskContainer.1.UserBucket.S3Bucket': 'b',
        'DiskContainer.1.UserBucket.S3Key': 'first.vmdk',
        'TagSpecification.1.ResourceType': 'import-image-task',
        'TagSpecification.1.Tag.1.Key': 'team',
        'TagSpecification.1.Tag.1.Value': 'infra',
        'LicenseSpecifications.1.LicenseConfigurationArn': 'arn:aws:license-manager:x',
        'ClientData.UploadSize': '1.5',
        'ClientData.UploadStart': '2024-01-02T03:04:05Z',
        DryRun: 'false',
        Encrypted: 'TRUE',
      }),
    );
    expect(input).toEqual({
      ClientData: { UploadSize: 1.5, UploadStart: '2024-01-02T03:04:05.000Z' },
      DiskContainers: [{ Format: 'VMDK', UserBucket: { S3Bucket: 'b', S3Key: 'first.vmdk' } }, { Url: 's3://b/second.vmdk' }],
      DryRun: false,
      Encrypted: true,
      LicenseSpecifications: [{ LicenseConfigurationArn: 'arn:aws:license-manager:x' }],
      TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'team', Value: 'infra' }] }],
    });
    expect(parseInput('DescribeImportImageTasks', fields({ 'Filters.1.Name': 'task-state', 'Filters.1.Value.1': 'active', 'ImportTaskId.1': 'import-ami-1', MaxResults: '5' }))).toEqual({
      Filters: [{ Name: 'task-state', Values: ['active'] }],
      ImportTaskIds: ['import-ami-1'],
      MaxResults: 5,
    });
  });

  it('refuses fields no shape names, and malformed scalars, as EC2 does', () => {
    for (const name of ['Frobnicate', 'DiskContainers.1.Format', 'DiskContainer.0.Format', 'DiskContainer.1.Colour', 'DiskContainer.x.Format']) {
      const fault = faultOf(() => parseInput('ImportImage', fields({ [name]: 'v' })));
      expect(fault).toMatchObject({ code: 'UnknownParameter', status: 400 });
      expect(fault.message).toContain(name);
    }
    for (const [name, value] of [['DryRun', 'yes'], ['ClientData.UploadSize', 'big'], ['ClientData.UploadEnd', 'not a date']]) {
      expect(faultOf(() => parseInput('ImportImage', fields({ [name!]: value! }))).code).toBe('InvalidParameterValue');
    }
    expect(faultOf(() => parseInput('DescribeImages', fields({ MaxResults: '1.5' }))).code).toBe('InvalidParameterValue');
  });
});

describe('the outcome table', () => {
  it('gives every preflight error (and each warning the service fails on) a ClientError message and a stage', () => {
    const failing = [...RULES.filter((rule) => rule.severity === 'error').map((rule) => rule.code), ...REFUSAL_CODES, ...FAILING_WARNINGS];
    for (const code of failing) {
      const outcome = OUTCOMES[code];
      expect(outcome, code).toBeDefined();
      expect(outcome!.message({ format: 'VMDK' })).toMatch(/^ClientError: \S/);
      expect(['validating', 'converting', 'updating', 'booting']).toContain(outcome!.stage);
    }
    expect(OUTCOMES.S3_ACCESS!.message({ format: 'RAW', reason: '404 Not Found' })).toContain('Reason 404 Not Found');
  });
});

describe('startSandboxS3', () => {
  it('serves s3rver on loopback with the default bucket, for the real S3 client', async () => {
    const server = await startSandboxS3();
    const { s3, ec2 } = clientsFor({ s3Endpoint: server.endpoint, ec2Endpoint: server.endpoint });
    ec2.destroy();
    try {
      expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await s3.send(new PutObjectCommand({ Bucket: DEFAULT_BUCKET, Key: 'a/b.bin', Body: Buffer.from('hello sandbox') }));
      const object = await s3.send(new GetObjectCommand({ Bucket: DEFAULT_BUCKET, Key: 'a/b.bin' }));
      expect(await object.Body!.transformToString()).toBe('hello sandbox');
      const listing = await s3.send(new ListObjectsV2Command({ Bucket: DEFAULT_BUCKET }));
      expect(listing.Contents!.map((o) => o.Key)).toEqual(['a/b.bin']);
    } finally {
      s3.destroy();
      await server.close();
    }
    await expect(fetch(server.endpoint)).rejects.toThrow();
  });

  it('refuses any host but 127.0.0.1, and a port in use', async () => {
    await expectDiskError(startSandboxS3({ host: '0.0.0.0' as never }), 'USAGE');
    const first = await startSandboxS3();
    try {
      await expectDiskError(startSandboxS3({ port: Number(new URL(first.endpoint).port) }), 'USAGE');
    } finally {
      await first.close();
    }
  });
});

describe('the multipart calls the sandbox adds to s3rver', () => {
  it('ListParts and ListMultipartUploads page, filter and echo keys as S3 does; Abort removes; Complete still works', async () => {
    const server = await startSandboxS3();
    const { s3, ec2 } = clientsFor({ s3Endpoint: server.endpoint, ec2Endpoint: server.endpoint });
    ec2.destroy();
    const Bucket = DEFAULT_BUCKET;
    const start = async (Key: string) => (await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }))).UploadId!;
    try {
      const odd = 'disks/a b+<c>&ü.vmdk';
      const [first, second, other] = [await start(odd), await start(odd), await start('other/x.raw')];
      const sizes = [5 * 1024 * 1024, 5 * 1024 * 1024, 3];
      const etags: string[] = [];
      for (const [index, size] of sizes.entries()) {
        const reply = await s3.send(new UploadPartCommand({ Bucket, Key: odd, UploadId: first, PartNumber: index + 1, Body: Buffer.alloc(size, index + 1) }));
        etags.push(reply.ETag!);
      }

      const parts = await s3.send(new ListPartsCommand({ Bucket, Key: odd, UploadId: first }));
      expect(parts.Parts!.map((part) => [part.PartNumber, part.Size, part.ETag])).toEqual(sizes.map((size, i) => [i + 1, size, etags[i]]));
      expect(parts.IsTruncated).toBe(false);
      const page = await s3.send(new ListPartsCommand({ Bucket, Key: odd, UploadId: first, MaxParts: 2 }));
      expect([page.Parts!.map((part) => part.PartNumber), page.IsTruncated, page.NextPartNumberMarker]).toEqual([[1, 2], true, '2']);
      const rest = await s3.send(new ListPartsCommand({ Bucket, Key: odd, UploadId: first, PartNumberMarker: '2' }));
      expect(rest.Parts!.map((part) => part.PartNumber)).toEqual([3]);
      expect((await s3.send(new ListPartsCommand({ Bucket, Key: odd, UploadId: second }))).Parts ?? []).toEqual([]);

      const all = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
      const ordered = [[odd, [first, second].sort()[0]], [odd, [first, second].sort()[1]], ['other/x.raw', other]];
      expect(all.Uploads!.map((upload) => [upload.Key, upload.UploadId])).toEqual(ordered);
      expect(all.Uploads![0]!.Initiated!.getTime()).toBeGreaterThan(Date.now() - 60_000);
      const prefixed = await s3.send(new ListMultipartUploadsCommand({ Bucket, Prefix: 'other/' }));
      expect(prefixed.Uploads!.map((upload) => upload.UploadId)).toEqual([other]);
      const firstPage = await s3.send(new ListMultipartUploadsCommand({ Bucket, MaxUploads: 1 }));
      expect([firstPage.Uploads!.length, firstPage.IsTruncated, firstPage.NextKeyMarker]).toEqual([1, true, odd]);
      const nextPage = await s3.send(
        new ListMultipartUploadsCommand({ Bucket, KeyMarker: firstPage.NextKeyMarker, UploadIdMarker: firstPage.NextUploadIdMarker }),
      );
      expect(nextPage.Uploads!.map((upload) => [upload.Key, upload.UploadId])).toEqual(ordered.slice(1));

      await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: odd, UploadId: second }));
      expect(await failureOf(s3.send(new ListPartsCommand({ Bucket, Key: odd, UploadId: second })))).toMatchObject({ code: 'NoSuchUpload', status: 404 });
      expect(await failureOf(s3.send(new AbortMultipartUploadCommand({ Bucket, Key: odd, UploadId: second })))).toMatchObject({ code: 'NoSuchUpload' });
      // An upload id under another key, or one that is not s3rver's shape, names no upload.
      expect(await failureOf(s3.send(new ListPartsCommand({ Bucket, Key: 'other/x.raw', UploadId: first })))).toMatchObject({ code: 'NoSuchUpload' });
      expect(await failureOf(s3.send(new AbortMultipartUploadCommand({ Bucket, Key: odd, UploadId: '../../../etc' })))).toMatchObject({ code: 'NoSuchUpload' });

      const MultipartUpload = { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) };
      await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: odd, UploadId: first, MultipartUpload }));
      const object = await s3.send(new GetObjectCommand({ Bucket, Key: odd }));
      expect((await object.Body!.transformToByteArray()).length).toBe(sizes.reduce((sum, size) => sum + size, 0));
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads!.map((upload) => upload.UploadId)).toEqual([other]);

      expect(await failureOf(s3.send(new ListMultipartUploadsCommand({ Bucket: 'no-such-bucket' })))).toMatchObject({ code: 'NoSuchBucket', status: 404 });
      const stranger = new S3Client({
        endpoint: server.endpoint,
        region: SANDBOX_REGION,
        credentials: { accessKeyId: 'AKIDSTRANGER', secretAccessKey: 'x' },
        forcePathStyle: true,
        maxAttempts: 1,
      });
      expect(await failureOf(stranger.send(new ListMultipartUploadsCommand({ Bucket })))).toMatchObject({ code: 'InvalidAccessKeyId', status: 403 });
      stranger.destroy();
    } finally {
      s3.destroy();
      await server.close();
    }
  });
});
