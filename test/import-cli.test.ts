/**
 * `diskport import` as a user runs it (the built CLI, a real process): the README's one-command demo on a bundled
 * qcow2 against --sandbox, JSON lines, a failed import's exit status and message, validation errors with their
 * codes and exit 2, and --no-wait + status + cancel against a sandbox found through AWS_ENDPOINT_URL_S3/EC2 (as
 * `diskport sandbox` prints them), cross-checked with the real `aws` CLI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../src/check.js';
import { OUTCOMES, startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { runIsolated } from './isolated.js';
import { fixture } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const home = mkdtempSync(join(tmpdir(), 'diskport-import-cli-'));
/** A --request-json file whose disk already has a UserBucket: with --disk-url, the disk has two sources. */
const bucketRequest = join(home, 'bucket-request.json');
writeFileSync(bucketRequest, JSON.stringify({ DiskContainers: [{ UserBucket: { S3Bucket: 'diskport-sandbox', S3Key: 'elsewhere.vmdk' } }] }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  lines: any[];
}

/** Runs a command in isolation (test/isolated.ts) with quick sandbox tasks; JSON lines of stdout parsed. */
async function run(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const ran = await runIsolated(command, args, home, { DISKPORT_SANDBOX_SPEED: '20', ...env });
  const lines = ran.stdout.split('\n').filter((line) => line.startsWith('{') && line.endsWith('}')).map((line) => JSON.parse(line));
  return { ...ran, lines };
}

afterAll(() => rmSync(home, { recursive: true, force: true }));

const diskport = (args: string[], env?: Record<string, string>) => run('node', [CLI, ...args], env);

describe('diskport import --sandbox', () => {
  it('runs the whole pipeline on the bundled qcow2 with no account: check, convert, upload, import, AMI', async () => {
    const { status, stdout, stderr } = await diskport(['import', '--sandbox', fixture('mbr-bios.qcow2')]);
    expect(status, stderr).toBe(0);
    expect(stdout).toMatch(/^converted\s+to VMDK/m);
    expect(stdout).toMatch(/^uploaded\s+s3:\/\/diskport-sandbox\/mbr-bios\.vmdk/m);
    expect(stdout).toMatch(/^status\s+completed$/m);
    expect(stdout).toMatch(/^image\s+ami-[0-9a-f]{17}$/m);
    expect(stdout).toMatch(/^snapshot\s+snap-[0-9a-f]{17} \(\/dev\/sda1, VMDK/m);
    expect(stdout).toMatch(/^license\s+BYOL$/m);
    expect(stdout).toMatch(/^platform\s+Linux$/m);
    expect(stderr).toBe('');
  });

  it('--json prints progress events as JSON lines, then one result', async () => {
    const { status, lines, stderr } = await diskport(['import', '--sandbox', '--json', '--tag', 'team=disks', '--description', 'json run', fixture('mbr-bios.vmdk')]);
    expect(status, stderr).toBe(0);
    const kinds = lines.map((line) => line.event);
    expect(kinds[0]).toBe('check');
    expect(kinds).toContain('progress');
    expect(kinds.indexOf('uploaded')).toBeLessThan(kinds.indexOf('started'));
    expect(kinds.at(-1)).toBe('result');
    expect(kinds.filter((kind) => kind === 'result')).toHaveLength(1);
    const tasks = lines.filter((line) => line.event === 'task');
    expect(tasks[0]).toMatchObject({ status: 'active', statusMessage: 'pending' });
    expect(tasks.at(-1)).toMatchObject({ status: 'completed', imageId: expect.stringMatching(/^ami-/) });
    const result = lines.at(-1);
    expect(result.request).toMatchObject({
      Description: 'json run',
      TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'team', Value: 'disks' }] }],
      ClientData: { UploadSize: expect.any(Number), UploadStart: expect.any(String), UploadEnd: expect.any(String) },
    });
    expect(result.task.status).toBe('completed');
  });

  it('a broken image (--force) ends deleted: the ClientError on stderr matches what check said, exit 4', async () => {
    const checked = await diskport(['check', '--json', fixture('empty-stream.vmdk')]);
    const code = checked.lines[0].findings[0].code as string;
    expect(code).toBe((await check(fixture('empty-stream.vmdk'))).findings[0]!.code);
    const { status, stdout, stderr } = await diskport(['import', '--sandbox', '--force', fixture('empty-stream.vmdk')]);
    expect(status).toBe(4);
    expect(stdout).toMatch(/^status\s+deleted$/m);
    const message = OUTCOMES[code]!.message({ format: 'VMDK' });
    expect(stderr).toBe(`diskport: ${fixture('empty-stream.vmdk')}: ${/import-ami-[0-9a-f]+/.exec(stdout)![0]} ended deleted: ${message} (IMPORT_FAILED)\n`);
  });

  it('without --force, the check errors stop it before anything is sent (exit 2)', async () => {
    const { status, stderr, lines } = await diskport(['import', '--sandbox', '--json', fixture('empty-stream.vmdk')]);
    expect(status).toBe(2);
    expect(stderr).toMatch(/PT_NONE.*\(IMPORT_CHECK_FAILED\)\n$/);
    expect(lines.at(-1).error.code).toBe('IMPORT_CHECK_FAILED');
  });

  it.each([
    [['--kms-key-id', 'alias/mine'], 'IMPORT_KMS_WITHOUT_ENCRYPTION', 'KmsKeyId'],
    [['--tag', 'aws:owner=me'], 'IMPORT_TAG_KEY_RESERVED', 'TagSpecifications[0].Tags[0].Key'],
    [['--boot-mode', 'bios'], 'IMPORT_VALUE_INVALID', 'BootMode'],
    [['--disk-format', 'qcow2'], 'IMPORT_VALUE_INVALID', 'DiskContainers[0].Format'],
    [['--disk-url', 'https://example.com/disk.vmdk', '--request-json', bucketRequest], 'IMPORT_DISK_SOURCE_CONFLICT', 'DiskContainers[0]'],
  ])('%j is refused with %s, exit 2', async (flags, code, field) => {
    const { status, stderr, lines } = await diskport(['import', '--sandbox', '--json', ...flags, fixture('mbr-bios.vmdk')]);
    expect(status).toBe(2);
    expect(lines.map((line) => line.event ?? 'error')).toEqual(['check', 'error']);
    expect(lines[1]).toEqual({ error: expect.objectContaining({ code, field }) });
    expect(stderr).toMatch(new RegExp(`\\(${code}\\)\\n$`));
  });

  it('--dry-run answers without uploading or starting anything', async () => {
    const { status, stdout, stderr } = await diskport(['import', '--sandbox', '--dry-run', fixture('mbr-bios.vmdk')]);
    expect(status, stderr).toBe(0);
    expect(stdout).toMatch(/^dry run\s+ImportImage would succeed/m);
  });
});

describe('diskport import against a running sandbox, through the endpoint variables', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 0.5 });
  });
  afterAll(() => sandbox?.close());

  it('--no-wait starts the task; status shows it (so does the aws CLI); cancel ends it', async () => {
    const started = await diskport(['import', '--no-wait', '--json', '--bucket', sandbox.bucket, fixture('mbr-bios.vmdk')], sandbox.env);
    expect(started.status, started.stderr).toBe(0);
    const result = started.lines.at(-1);
    expect(result.task).toMatchObject({ status: 'active', statusMessage: 'pending' });
    const taskId = result.taskId as string;

    const status = await diskport(['import', 'status', taskId, '--json'], sandbox.env);
    expect(status.status, status.stderr).toBe(0);
    expect(status.lines[0]).toMatchObject({ taskId, status: 'active', snapshots: [{ url: `s3://${sandbox.bucket}/mbr-bios.vmdk` }] });

    const aws = await run('aws', ['ec2', 'describe-import-image-tasks', '--import-task-ids', taskId, '--endpoint-url', sandbox.ec2Endpoint, '--output', 'json'], sandbox.env);
    expect(aws.status, aws.stderr).toBe(0);
    expect(JSON.parse(aws.stdout).ImportImageTasks[0]).toMatchObject({ ImportTaskId: taskId, Status: 'active' });

    const cancelled = await diskport(['import', 'cancel', taskId, '--reason', 'not today'], sandbox.env);
    expect(cancelled.status, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(/^now\s+deleting$/m);
    const after = await diskport(['import', 'status', taskId], sandbox.env);
    expect(after.stdout).toMatch(/^status\s+delet(ing|ed)$/m);
    expect(after.stdout).toMatch(/^message\s+not today$/m);
  });

  it('status of a task that does not exist exits 2 with IMPORT_TASK_NOT_FOUND', async () => {
    const { status, stderr } = await diskport(['import', 'status', 'import-ami-0123456789abcdef0'], sandbox.env);
    expect(status).toBe(2);
    expect(stderr).toMatch(/\(IMPORT_TASK_NOT_FOUND\)\n$/);
  });
});
