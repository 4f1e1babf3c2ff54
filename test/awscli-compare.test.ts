/**
 * `diskport ec2 import-image` against the real `aws ec2 import-image` (v1 here, Debian's v2 in CI): for each
 * argument list both run against the same loopback recorder, and must send the same parameters (compared as
 * values: v1 writes UploadSize=10.0 where the SDK writes 10) and print the same answer. The aws CLI runs with a
 * clean HOME and config, dummy credentials, --endpoint-url and --region us-east-1.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { normalized, startRecorder, type Recorder } from './awscli-recorder.js';
import { runIsolated } from './isolated.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const home = mkdtempSync(join(tmpdir(), 'diskport-awscli-'));
let recorder: Recorder;

beforeAll(async () => {
  recorder = await startRecorder();
});
afterAll(() => recorder.close());

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  sent: Record<string, unknown>[];
}

/** Runs one command against the recorder; serialised, so each run's requests are its own. */
let queue: Promise<unknown> = Promise.resolve();
function run(tool: 'aws' | 'diskport', args: string[]): Promise<Run> {
  const next = queue.then(async () => {
    const before = recorder.requests.length;
    const [command, prefix] = tool === 'aws' ? ['aws', []] : [process.execPath, [CLI]];
    const { status, stdout, stderr } = await runIsolated(command, [...prefix, ...args, '--endpoint-url', recorder.endpoint, '--region', 'us-east-1'], home, {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'dummy-secret',
      AWS_PAGER: '',
    });
    return { status, stdout, stderr, sent: recorder.requests.slice(before).map((request) => normalized(request.params)) };
  });
  queue = next.catch(() => undefined);
  return next;
}

async function both(args: string[], diskportArgs = args): Promise<[Run, Run]> {
  return [await run('aws', ['ec2', 'import-image', ...args]), await run('diskport', ['ec2', 'import-image', ...diskportArgs])];
}

const dir = mkdtempSync(join(tmpdir(), 'diskport-awscli-input-'));
function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return `file://${join(dir, name)}`;
}

const request = {
  Description: 'from the input file',
  DiskContainers: [
    { Description: 'boot', Format: 'VMDK', UserBucket: { S3Bucket: 'bucket', S3Key: 'boot.vmdk' } },
    { Format: 'RAW', Url: 's3://bucket/data.raw' },
  ],
  ClientData: { UploadSize: 12, UploadStart: '2024-05-01T10:00:00Z', UploadEnd: '2024-05-01T10:30:00Z', Comment: 'input' },
  Platform: 'Linux',
  TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'Name', Value: 'web' }] }],
};

const CASES: [string, string[]][] = [
  ['one disk, shorthand', ['--disk-containers', 'Format=vmdk,UserBucket={S3Bucket=bucket,S3Key=disks/a.vmdk}', '--description', 'a disk']],
  [
    'several disks, shorthand, quoted and escaped values',
    ['--disk-containers', "Description='boot, disk',Format=VMDK,UserBucket={S3Bucket=bucket,S3Key=boot.vmdk}", 'Description=data\\,2,DeviceName=/dev/sdb,Format=RAW,Url=s3://bucket/b.raw'],
  ],
  [
    'JSON list and JSON client data',
    ['--disk-containers', '[{"Format":"OVA","UserBucket":{"S3Bucket":"b","S3Key":"vm.ova"}}]', '--client-data', '{"UploadSize": 10, "UploadStart": "2024-05-01T12:00:00Z", "UploadEnd": 1714567200, "Comment": "json"}'],
  ],
  ['one JSON object per disk', ['--disk-containers', '{"Format":"VHD","Url":"https://bucket.s3.amazonaws.com/a.vhd"}', '{"Format":"VHDX","UserBucket":{"S3Bucket":"b","S3Key":"c.vhdx"}}']],
  ['shorthand client data', ['--disk-containers', 'Format=RAW,Url=s3://b/k', '--client-data', 'UploadSize=2.5,UploadStart=2024-05-01T12:00:00,Comment=hello world']],
  ['no dry run', ['--disk-containers', 'Format=RAW,Url=s3://b/k', '--no-dry-run']],
  ['tags', ['--disk-containers', 'Format=RAW,Url=s3://b/k', '--tag-specifications', 'ResourceType=import-image-task,Tags=[{Key=Name,Value=web},{Key=team,Value="a b"}]']],
  [
    'KMS and encrypted, every scalar option',
    [
      '--disk-containers', 'Format=VMDK,UserBucket={S3Bucket=b,S3Key=k.vmdk}', '--encrypted', '--kms-key-id', 'arn:aws:kms:us-east-1:123456789012:key/abcd',
      '--license-type', 'BYOL', '--platform', 'Linux', '--architecture', 'x86_64', '--boot-mode', 'uefi', '--role-name', 'vmimport',
      '--usage-operation', 'RunInstances:0010', '--hypervisor', 'xen', '--client-token', 'token-1',
    ],
  ],
  [
    'license specifications, several structures',
    ['--disk-containers', 'Format=RAW,Url=s3://b/k', '--license-specifications', 'LicenseConfigurationArn=arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1', 'LicenseConfigurationArn=arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-2'],
  ],
  ['--cli-input-json file:// under an explicit option', ['--cli-input-json', file('request.json', JSON.stringify(request)), '--description', 'explicit wins', '--no-encrypted']],
  ['--cli-input-json inline', ['--cli-input-json', JSON.stringify(request)]],
  ['file:// for one option', ['--disk-containers', file('containers.json', JSON.stringify(request.DiskContainers)), '--client-data', file('client-data.txt', 'UploadSize=3,Comment=from a file')]],
];

describe('diskport ec2 import-image sends what aws ec2 import-image sends', () => {
  it.each(CASES)('%s', async (_name, args) => {
    const [aws, diskport] = await both(args);
    expect(aws.status, aws.stderr).toBe(0);
    expect(diskport.status, diskport.stderr).toBe(0);
    expect(aws.sent).toHaveLength(1);
    expect(diskport.sent).toEqual(aws.sent);
    expect(diskport.stdout).toBe(aws.stdout);
  });

  it('--cli-input-yaml sends what --cli-input-json sends (aws-cli v1 has no YAML input: compared with its JSON)', async () => {
    const yaml = file('request.yaml', `Description: from yaml\nDiskContainers:\n- Format: VMDK\n  UserBucket: {S3Bucket: bucket, S3Key: boot.vmdk}\nClientData:\n  UploadSize: 12\n  UploadStart: 2024-05-01T10:00:00Z\nEncrypted: true\n`);
    const json = file('same.json', JSON.stringify({ Description: 'from yaml', DiskContainers: [{ Format: 'VMDK', UserBucket: { S3Bucket: 'bucket', S3Key: 'boot.vmdk' } }], ClientData: { UploadSize: 12, UploadStart: '2024-05-01T10:00:00Z' }, Encrypted: true }));
    const [aws, diskport] = await both(['--cli-input-json', json], ['--cli-input-yaml', yaml]);
    expect(diskport.status, diskport.stderr).toBe(0);
    expect(diskport.sent).toEqual(aws.sent);
  });

  it('dry run: both send DryRun=true and fail with DryRunOperation', async () => {
    const [aws, diskport] = await both(['--disk-containers', 'Format=RAW,Url=s3://b/k', '--dry-run']);
    expect(aws.sent[0]).toMatchObject({ DryRun: 'true' });
    expect(diskport.sent).toEqual(aws.sent);
    expect(aws.status).not.toBe(0);
    expect(diskport.status).not.toBe(0);
    expect(aws.stderr).toContain('DryRunOperation');
    expect(diskport.stderr).toMatch(/^diskport: .*DryRunOperation.*\(EC2_REQUEST_FAILED\)\n$/);
  });

  it.each(['text', 'table'])('prints --output %s as the aws CLI does', async (format) => {
    const args = ['--disk-containers', 'Format=RAW,Url=s3://b/k', '--output', format];
    const [aws, diskport] = await both(args);
    expect(diskport.stdout).toBe(aws.stdout);
    expect(diskport.stdout.length).toBeGreaterThan(100);
  });

  it('prints --output yaml (aws-cli v2) as the same answer as JSON', async () => {
    const [json, yaml] = [await run('diskport', ['ec2', 'import-image', '--disk-containers', 'Format=RAW,Url=s3://b/k']), await run('diskport', ['ec2', 'import-image', '--disk-containers', 'Format=RAW,Url=s3://b/k', '--output', 'yaml'])];
    expect(parseYaml(yaml.stdout)).toEqual(JSON.parse(json.stdout));
    expect(yaml.stdout).toContain('SnapshotDetails:\n- DiskImageSize: 0.0\n');
  });
});

describe('skeletons', () => {
  it('the input skeleton has the aws CLI skeleton\'s members, order and types', async () => {
    const [aws, diskport] = [await run('aws', ['ec2', 'import-image', '--generate-cli-skeleton']), await run('diskport', ['ec2', 'import-image', '--generate-cli-skeleton', 'input'])];
    const types = (value: unknown): unknown =>
      Array.isArray(value) ? value.map(types) : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([key, item]) => [key, types(item)])) : typeof value;
    expect(Object.keys(JSON.parse(diskport.stdout))).toEqual(Object.keys(JSON.parse(aws.stdout)));
    expect(types(JSON.parse(diskport.stdout))).toEqual(types(JSON.parse(aws.stdout)));
    expect(diskport.stdout).toContain('"UploadSize": 0.0');
    expect(diskport.sent).toEqual([]);
  });

  it('--cli-input-json takes the input skeleton back: both CLIs check it and print the output skeleton, sending nothing', async () => {
    const skeleton = (await run('diskport', ['ec2', 'import-image', '--generate-cli-skeleton'])).stdout;
    const input = file('skeleton.json', skeleton);
    const [aws, diskport] = await both(['--cli-input-json', input, '--generate-cli-skeleton', 'output']);
    expect(aws.status, aws.stderr).toBe(0);
    expect(diskport.status, diskport.stderr).toBe(0);
    expect(diskport.stdout).toBe(aws.stdout);
    expect(diskport.sent).toEqual([]);
    const yamlSkeleton = (await run('diskport', ['ec2', 'import-image', '--generate-cli-skeleton', 'yaml-input'])).stdout;
    expect(parseYaml(yamlSkeleton)).toEqual(JSON.parse(skeleton));
    const back = await run('diskport', ['ec2', 'import-image', '--cli-input-yaml', file('skeleton.yaml', yamlSkeleton), '--generate-cli-skeleton', 'output']);
    expect(back.status, back.stderr).toBe(0);
  });

  it('a filled-in skeleton is sent as the aws CLI sends it', async () => {
    const skeleton = JSON.parse((await run('diskport', ['ec2', 'import-image', '--generate-cli-skeleton'])).stdout);
    skeleton.DiskContainers = [{ Format: 'VMDK', UserBucket: { S3Bucket: 'bucket', S3Key: 'k.vmdk' } }];
    skeleton.DryRun = false;
    skeleton.Architecture = 'x86_64';
    skeleton.ClientToken = 'token-2';
    const input = file('filled.json', JSON.stringify(skeleton));
    const [aws, diskport] = await both(['--cli-input-json', input]);
    expect(diskport.status, diskport.stderr).toBe(0);
    expect(diskport.sent).toEqual(aws.sent);
  });
});
