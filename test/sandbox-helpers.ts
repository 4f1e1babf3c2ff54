/** Shared by the sandbox tests: SDK clients pointed at a sandbox, uploads, and following a task to its end. */
import { readFileSync } from 'node:fs';
import { DescribeImportImageTasksCommand, EC2Client, type ImportImageTask } from '@aws-sdk/client-ec2';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SANDBOX_CREDENTIALS, SANDBOX_REGION } from '../src/sandbox/index.js';
import { fixture } from './helpers.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** Real SDK clients for a sandbox's endpoints (or a standalone S3's: both the same URL). */
export function clientsFor(endpoints: { s3Endpoint: string; ec2Endpoint: string }): { ec2: EC2Client; s3: S3Client } {
  const common = { region: SANDBOX_REGION, credentials: SANDBOX_CREDENTIALS, maxAttempts: 1 };
  return {
    ec2: new EC2Client({ ...common, endpoint: endpoints.ec2Endpoint }),
    s3: new S3Client({ ...common, endpoint: endpoints.s3Endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' }),
  };
}

/** Puts a fixture into the sandbox bucket under `key`. */
export async function upload(s3: S3Client, bucket: string, name: string, key = name): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(fixture(name)) }));
}

/** Polls until the task is completed or deleted; returns it and every StatusMessage seen on the way, in order. */
export async function follow(ec2: EC2Client, taskId: string, timeoutMs = 20_000): Promise<{ task: ImportImageTask; seen: string[]; progress: number[] }> {
  const seen: string[] = [];
  const progress: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { ImportImageTasks } = await ec2.send(new DescribeImportImageTasksCommand({ ImportTaskIds: [taskId] }));
    const task = ImportImageTasks![0]!;
    const message = `${task.Status}/${task.StatusMessage ?? ''}`;
    if (seen.at(-1) !== message) seen.push(message);
    if (task.Progress !== undefined) progress.push(Number(task.Progress));
    if (task.Status === 'completed' || task.Status === 'deleted') return { task, seen, progress };
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  throw new Error(`task ${taskId} did not end within ${timeoutMs} ms (seen: ${seen.join(', ')})`);
}

/** The rejection of `work`: its error code (the SDK's error name), HTTP status and message. */
export async function failureOf(work: Promise<unknown>): Promise<{ code: string; status: number | undefined; message: string }> {
  const error = (await work.then(
    () => undefined,
    (e: unknown) => e,
  )) as ({ name: string; message: string; $metadata?: { httpStatusCode?: number } } | undefined);
  if (error === undefined) throw new Error('expected the call to fail');
  return { code: error.name, status: error.$metadata?.httpStatusCode, message: error.message };
}
