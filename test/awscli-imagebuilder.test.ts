/**
 * Image Builder: `diskport imagebuilder import-vm-image`, the real aws CLI and @aws-sdk/client-imagebuilder against
 * the sandbox's endpoint, after a real sandbox import completed; and both CLIs against the recorder.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetImageCommand, ImagebuilderClient, ImportVmImageCommand, ListImagesCommand } from '@aws-sdk/client-imagebuilder';
import { ImportImageCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox } from '../src/sandbox/index.js';
import { startRecorder, type Recorder } from './awscli-recorder.js';
import { runIsolated } from './isolated.js';
import { clientsFor, failureOf, follow, upload } from './sandbox-helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const home = mkdtempSync(join(tmpdir(), 'diskport-imagebuilder-'));
let sandbox: Sandbox;
let recorder: Recorder;
let taskId: string;
let failedTaskId: string;

const run = (command: string, args: string[], env: Record<string, string>) => runIsolated(command, args, home, env);
const diskport = (args: string[], env = sandbox.env) => run(process.execPath, [CLI, 'imagebuilder', 'import-vm-image', ...args], env);

beforeAll(async () => {
  [sandbox, recorder] = await Promise.all([startSandbox({ speed: 40 }), startRecorder()]);
  const { ec2, s3 } = clientsFor(sandbox);
  await upload(s3, sandbox.bucket, 'mbr-bios.vmdk', 'ib/good.vmdk');
  const container = { Format: 'VMDK', UserBucket: { S3Bucket: sandbox.bucket, S3Key: 'ib/good.vmdk' } };
  const started = await ec2.send(new ImportImageCommand({ DiskContainers: [container] }));
  taskId = started.ImportTaskId!;
  await follow(ec2, taskId);
  const missing = { ...container, UserBucket: { S3Bucket: sandbox.bucket, S3Key: 'ib/missing.vmdk' } };
  failedTaskId = (await ec2.send(new ImportImageCommand({ DiskContainers: [missing] }))).ImportTaskId!;
  await follow(ec2, failedTaskId);
  ec2.destroy();
  s3.destroy();
});
afterAll(async () => {
  await Promise.all([sandbox.close(), recorder.close()]);
});

describe('diskport imagebuilder import-vm-image against the sandbox', () => {
  it('makes a base image from a completed import: requestId, imageArn, clientToken; GetImage shows it', async () => {
    const result = await diskport(['--name', 'Web Base', '--semantic-version', '1.2.3', '--platform', 'Linux', '--vm-import-task-id', taskId, '--tags', 'team=web,env=test']);
    expect(result.status, result.stderr).toBe(0);
    const answer = JSON.parse(result.stdout);
    expect(Object.keys(answer)).toEqual(['requestId', 'imageArn', 'clientToken']);
    expect(answer.imageArn).toBe('arn:aws:imagebuilder:us-east-1:123456789000:image/web-base/1.2.3/1');
    expect(answer.clientToken).toMatch(/^[0-9a-f-]{36}$/);
    const client = new ImagebuilderClient({ endpoint: sandbox.env.AWS_ENDPOINT_URL_IMAGEBUILDER, region: 'us-east-1', credentials: SANDBOX_CREDENTIALS });
    const { image } = await client.send(new GetImageCommand({ imageBuildVersionArn: answer.imageArn }));
    expect(image).toMatchObject({ name: 'Web Base', version: '1.2.3/1', platform: 'Linux', tags: { team: 'web', env: 'test' }, state: { status: 'AVAILABLE' } });
    expect(image?.outputResources?.amis?.[0]?.image).toMatch(/^ami-[0-9a-f]{17}$/);
    client.destroy();
  });

  it('through @aws-sdk/client-imagebuilder: idempotent by clientToken, refuses unknown and failed tasks', async () => {
    const client = new ImagebuilderClient({ endpoint: sandbox.env.AWS_ENDPOINT_URL_IMAGEBUILDER, region: 'us-east-1', credentials: SANDBOX_CREDENTIALS, maxAttempts: 1 });
    const input = { name: 'sdk-image', semanticVersion: '2.0.0', platform: 'Linux' as const, vmImportTaskId: taskId, clientToken: 'sdk-token-1' };
    const first = await client.send(new ImportVmImageCommand(input));
    const again = await client.send(new ImportVmImageCommand(input));
    expect(again.imageArn).toBe(first.imageArn);
    expect(await failureOf(client.send(new ImportVmImageCommand({ ...input, semanticVersion: '2.0.1' })))).toMatchObject({ code: 'IdempotentParameterMismatchException', status: 400 });
    expect(await failureOf(client.send(new ImportVmImageCommand({ ...input, clientToken: 'other', vmImportTaskId: 'import-ami-0123456789abcdef0' })))).toMatchObject({ code: 'ResourceNotFoundException', status: 404 });
    expect(await failureOf(client.send(new ImportVmImageCommand({ ...input, clientToken: 'third', vmImportTaskId: failedTaskId })))).toMatchObject({ code: 'InvalidRequestException' });
    expect(await failureOf(client.send(new ImportVmImageCommand({ ...input, clientToken: 'fourth', semanticVersion: '1.0' })))).toMatchObject({ code: 'InvalidParameterValueException' });
    // An operation the sandbox does not serve is refused as Image Builder, not answered by its S3.
    const unserved = await failureOf(client.send(new ListImagesCommand({})));
    expect(unserved).toMatchObject({ code: 'InvalidRequestException', status: 400 });
    expect(unserved.message).toContain('ListImages');
    client.destroy();
  });

  it('the real aws CLI imports against the sandbox too, and diskport reports the service refusal with its code', async () => {
    const aws = await run('aws', ['imagebuilder', 'import-vm-image', '--name', 'cli-image', '--semantic-version', '3.0.0', '--platform', 'Linux', '--vm-import-task-id', taskId, '--endpoint-url', sandbox.env.AWS_ENDPOINT_URL_IMAGEBUILDER!, '--output', 'json'], sandbox.env);
    expect(aws.status, aws.stderr).toBe(0);
    expect(JSON.parse(aws.stdout).imageArn).toContain('image/cli-image/3.0.0/1');
    const refused = await diskport(['--name', 'cli-image', '--semantic-version', '4.0.0', '--platform', 'Linux', '--vm-import-task-id', 'import-ami-0123456789abcdef0']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^diskport: ImportVmImage: .*ResourceNotFoundException.*\(IMAGEBUILDER_REQUEST_REJECTED\)\n$/);
  });
});

describe('import-vm-image sends what aws imagebuilder import-vm-image sends', () => {
  it('shorthand tags, JSON tags, cli-input-json', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'dummy', AWS_DEFAULT_REGION: 'us-east-1' };
    const lists = [
      ['--name', 'web', '--semantic-version', '1.0.0', '--platform', 'Windows', '--vm-import-task-id', 'import-ami-0abc', '--tags', 'a=1,b=two words', '--client-token', 't1', '--os-version', 'Microsoft Windows Server 2022', '--description', 'd'],
      ['--cli-input-json', '{"name": "web", "semanticVersion": "1.0.0", "platform": "Linux", "vmImportTaskId": "import-ami-0abc", "tags": {"k": "v"}, "clientToken": "t2"}', '--semantic-version', '2.0.0'],
    ];
    for (const args of lists) {
      const flags = [...args, '--endpoint-url', recorder.endpoint];
      const before = recorder.requests.length;
      const aws = await run('aws', ['imagebuilder', 'import-vm-image', ...flags], env);
      const ours = await run(process.execPath, [CLI, 'imagebuilder', 'import-vm-image', ...flags], env);
      expect(aws.status, aws.stderr).toBe(0);
      expect(ours.status, ours.stderr).toBe(0);
      const [fromAws, fromDiskport] = recorder.requests.slice(before);
      expect(fromDiskport!.params).toEqual(fromAws!.params);
      expect(ours.stdout).toBe(aws.stdout);
    }
  });
});
