/**
 * `diskport sandbox` as a user runs it (the built CLI, a real process), driven by the real `aws` CLI: it prints
 * the environment as export lines, serves S3 and EC2 until SIGTERM, and the AWS CLI uploads, imports, follows,
 * cancels and dry-runs against it. The aws CLI runs with a clean HOME and config, and always with --endpoint-url
 * (aws-cli v1 ignores AWS_ENDPOINT_URL_*).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../src/check.js';
import { OUTCOMES } from '../src/sandbox/index.js';
import { runIsolated } from './isolated.js';
import { fixture } from './helpers.js';
import { clientsFor, upload } from './sandbox-helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const home = mkdtempSync(join(tmpdir(), 'diskport-sandbox-cli-'));

interface Server {
  child: ChildProcess;
  env: Record<string, string>;
  stderr: () => string;
}
/** At speed 4 an import takes about a second; the slow one (speed 0.2, about 20 s) leaves time to cancel. */
let server: Server;
let slow: Server;

/** Starts `diskport sandbox`, returns once its export lines are out. */
async function startServer(speed: number): Promise<Server> {
  const child = spawn('node', [CLI, 'sandbox', '--speed', String(speed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let stdout = '';
  for await (const chunk of child.stdout!) {
    stdout += (chunk as Buffer).toString();
    if (stdout.includes('AWS_DEFAULT_REGION=')) break;
  }
  const env = Object.fromEntries([...stdout.matchAll(/^export ([A-Z0-9_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  return { child, env, stderr: () => stderr };
}

/** The real aws CLI, with the sandbox's environment and nothing from the user's configuration. */
async function aws(args: string[], { env } = server): Promise<{ status: number | null; json: any; stderr: string }> {
  const { status, stdout, stderr } = await runIsolated('aws', [...args, '--endpoint-url', env.AWS_ENDPOINT_URL_EC2!, '--output', 'json'], home, env);
  const text = stdout.trim();
  return { status, json: text.startsWith('{') ? JSON.parse(text) : undefined, stderr };
}

/** Polls describe-import-image-tasks (each call is a CLI start, about a second) until the task ends. */
async function followWithCli(taskId: string, on = server): Promise<any> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const task = (await aws(['ec2', 'describe-import-image-tasks', '--import-task-ids', taskId], on)).json.ImportImageTasks[0];
    if (task.Status === 'completed' || task.Status === 'deleted') return task;
  }
  throw new Error(`${taskId} did not end`);
}

const container = (key: string, format = 'vmdk') => `Format=${format},UserBucket={S3Bucket=diskport-sandbox,S3Key=${key}}`;

beforeAll(async () => {
  [server, slow] = await Promise.all([startServer(4), startServer(0.2)]);
});

afterAll(() => {
  for (const { child } of [server, slow]) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('diskport sandbox with the aws CLI', () => {
  it('prints the endpoint variables, dummy credentials and the region as export lines', () => {
    const { env } = server;
    expect(Object.keys(env).sort()).toEqual(
      ['AWS_ACCESS_KEY_ID', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL_EC2', 'AWS_ENDPOINT_URL_IMAGEBUILDER', 'AWS_ENDPOINT_URL_S3', 'AWS_REGION', 'AWS_SECRET_ACCESS_KEY'].sort(),
    );
    expect(env.AWS_ENDPOINT_URL_S3).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.AWS_DEFAULT_REGION).toBe('us-east-1');
  });

  it('imports a sample uploaded with aws s3 cp to completed, and a broken one to deleted with the ClientError check implies', async () => {
    const upload = mkdtempSync(join(tmpdir(), 'diskport-sandbox-upload-'));
    copyFileSync(fixture('mbr-bios.vmdk'), join(upload, 'good.vmdk'));
    copyFileSync(fixture('empty-stream.vmdk'), join(upload, 'broken.vmdk'));
    const copy = await aws(['s3', 'cp', '--recursive', '--only-show-errors', upload, 's3://diskport-sandbox/cli/']);
    expect(copy.status, copy.stderr).toBe(0);

    const [good, broken] = await Promise.all([
      aws(['ec2', 'import-image', '--disk-containers', container('cli/good.vmdk'), '--description', 'from the aws CLI']),
      aws(['ec2', 'import-image', '--disk-containers', container('cli/broken.vmdk')]),
    ]);
    expect(good.status, good.stderr).toBe(0);
    expect(good.json).toMatchObject({ Status: 'active', StatusMessage: 'pending', ImportTaskId: expect.stringMatching(/^import-ami-/) });
    const [completed, deleted] = await Promise.all([followWithCli(good.json.ImportTaskId), followWithCli(broken.json.ImportTaskId)]);

    expect(completed).toMatchObject({ Status: 'completed', ImageId: expect.stringMatching(/^ami-[0-9a-f]{17}$/), Platform: 'Linux' });
    expect(completed.SnapshotDetails[0]).toMatchObject({ Status: 'completed', DeviceName: '/dev/sda1', SnapshotId: expect.stringMatching(/^snap-/) });
    const images = await aws(['ec2', 'describe-images', '--image-ids', completed.ImageId]);
    expect(images.json.Images[0]).toMatchObject({ ImageId: completed.ImageId, State: 'available' });

    const checked = spawnSync('node', [CLI, 'check', '--json', fixture('empty-stream.vmdk')], { encoding: 'utf8' });
    expect(checked.status).toBe(1);
    const code = JSON.parse(checked.stdout).findings[0].code as string;
    expect(code).toBe((await check(fixture('empty-stream.vmdk'))).findings[0]!.code);
    expect(deleted.Status).toBe('deleted');
    expect(deleted.StatusMessage).toBe(OUTCOMES[code]!.message({ format: 'VMDK' }));
  });

  it("the aws CLI's multipart calls: a multipart aws s3 cp, then list-parts, list-multipart-uploads and abort", async () => {
    const folder = mkdtempSync(join(tmpdir(), 'diskport-sandbox-multipart-'));
    const big = join(folder, 'big.raw');
    copyFileSync(fixture('mixed.raw'), big); // 40 MiB: over the CLI's 8 MiB multipart threshold
    const copy = await aws(['s3', 'cp', '--only-show-errors', big, 's3://diskport-sandbox/cli/big.raw']);
    expect(copy.status, copy.stderr).toBe(0);
    const head = await aws(['s3api', 'head-object', '--bucket', 'diskport-sandbox', '--key', 'cli/big.raw']);
    expect(head.json.ContentLength).toBe(40 * 1024 * 1024);

    const key = 'cli/pending disk.vmdk';
    const created = await aws(['s3api', 'create-multipart-upload', '--bucket', 'diskport-sandbox', '--key', key]);
    const id = created.json.UploadId as string;
    const part = await aws(['s3api', 'upload-part', '--bucket', 'diskport-sandbox', '--key', key, '--upload-id', id, '--part-number', '1', '--body', fixture('odd.raw')]);
    expect(part.status, part.stderr).toBe(0);
    const parts = await aws(['s3api', 'list-parts', '--bucket', 'diskport-sandbox', '--key', key, '--upload-id', id]);
    expect(parts.json.Parts).toEqual([expect.objectContaining({ PartNumber: 1, Size: 5244416, ETag: part.json.ETag })]);
    const pending = await aws(['s3api', 'list-multipart-uploads', '--bucket', 'diskport-sandbox']);
    expect(pending.json.Uploads.map((upload: { Key: string; UploadId: string }) => [upload.Key, upload.UploadId])).toEqual([[key, id]]);
    const aborted = await aws(['s3api', 'abort-multipart-upload', '--bucket', 'diskport-sandbox', '--key', key, '--upload-id', id]);
    expect(aborted.status, aborted.stderr).toBe(0);
    expect((await aws(['s3api', 'list-multipart-uploads', '--bucket', 'diskport-sandbox'])).json?.Uploads ?? []).toEqual([]);
  });

  it('cancels with cancel-import-task, and answers --dry-run, a bad Format and an unknown task as EC2 does', async () => {
    const cancelling = (async () => {
      const { s3 } = clientsFor({ s3Endpoint: slow.env.AWS_ENDPOINT_URL_S3!, ec2Endpoint: slow.env.AWS_ENDPOINT_URL_EC2! });
      await upload(s3, 'diskport-sandbox', 'mbr-bios.vmdk', 'cli/good.vmdk'); // the aws CLI's s3 cp is tested above; this saves a CLI start
      s3.destroy();
      const started = await aws(['ec2', 'import-image', '--disk-containers', container('cli/good.vmdk')], slow);
      const cancelled = await aws(['ec2', 'cancel-import-task', '--import-task-id', started.json.ImportTaskId], slow);
      expect(cancelled.json).toEqual({ ImportTaskId: started.json.ImportTaskId, PreviousState: 'active', State: 'deleting' });
      expect(await followWithCli(started.json.ImportTaskId, slow)).toMatchObject({ Status: 'deleted', StatusMessage: 'User requested cancellation' });
    })();
    const [dry, badFormat, unknown, filtered] = await Promise.all([
      aws(['ec2', 'import-image', '--disk-containers', container('cli/good.vmdk'), '--dry-run']),
      aws(['ec2', 'import-image', '--disk-containers', container('cli/good.vmdk', 'qcow2')]),
      aws(['ec2', 'describe-import-image-tasks', '--import-task-ids', 'import-ami-0123456789abcdef0']),
      aws(['ec2', 'describe-import-image-tasks', '--filters', 'Name=task-state,Values=deleted']),
    ]);
    await cancelling;
    expect(dry.status).not.toBe(0);
    expect(dry.stderr).toContain('(DryRunOperation)');
    expect(badFormat.status).not.toBe(0);
    expect(badFormat.stderr).toContain('(InvalidParameterValue)');
    expect(unknown.stderr).toContain('(InvalidConversionTaskId.Malformed)');
    expect(filtered.json.ImportImageTasks.length).toBe(1);
    expect(filtered.json.ImportImageTasks.every((t: { Status: string }) => t.Status === 'deleted')).toBe(true);
  });

  it('logs one line per request on stderr, without credentials, and stops on SIGTERM with exit 0', async () => {
    server.child.kill('SIGTERM');
    const [code] = await once(server.child, 'exit');
    expect(code).toBe(0);
    const stderr = server.stderr();
    expect(stderr).toMatch(/^sandbox: ec2 ImportImage 200 \d+ms$/m);
    expect(stderr).toMatch(/^sandbox: s3 PUT \/diskport-sandbox\/cli\/good\.vmdk 200 \d+ms$/m);
    expect(stderr).toMatch(/^sandbox: ec2 ImportImage DryRunOperation 412 \d+ms$/m);
    expect(stderr).not.toContain(server.env.AWS_SECRET_ACCESS_KEY!);
    expect(stderr).not.toMatch(/Signature=|X-Amz-Credential/);
    expect(stderr).toMatch(/SIGTERM: stopping/);
  });
});
