/**
 * An import task as diskport reports it (`diskport import status TASK`, and every step `follow` shows): the
 * DescribeImportImageTasks item in plain camelCase, Progress as a number.
 */
import type { EC2Client, ImportImageTask } from '@aws-sdk/client-ec2';
import { DiskError } from '../errors.js';
import { createEc2Client, ec2Sdk, type Ec2ClientOptions } from './client.js';
import { ec2Error } from './ec2-errors.js';

export interface ImportSnapshot {
  snapshotId: string | null;
  deviceName: string | null;
  format: string | null;
  /** Bytes of the disk image, as the service reports them. */
  diskImageSize: number | null;
  status: string | null;
  url: string | null;
}

export interface ImportTaskState {
  taskId: string;
  /** active, then completed, or deleting and deleted. */
  status: string;
  /** The step (pending, converting, booting, preparing ami, …) while active; the reason once deleted. */
  statusMessage: string | null;
  /** Percent, while active. */
  progress: number | null;
  imageId: string | null;
  snapshots: ImportSnapshot[];
  licenseType: string | null;
  platform: string | null;
  architecture: string | null;
  bootMode: string | null;
  description: string | null;
}

/** Where the task ends: completed with an AMI, or deleted. */
export function isFinal(state: Pick<ImportTaskState, 'status'>): boolean {
  return state.status === 'completed' || state.status === 'deleted';
}

export interface StatusOptions extends Ec2ClientOptions {
  /** A client to use instead of making one from the options. */
  client?: EC2Client;
}

export async function importStatus(taskId: string, options: StatusOptions = {}): Promise<ImportTaskState> {
  const client = options.client ?? (await createEc2Client(options));
  try {
    return await describeTask(client, taskId);
  } finally {
    if (options.client === undefined) client.destroy();
  }
}

export async function describeTask(client: EC2Client, taskId: string): Promise<ImportTaskState> {
  const { DescribeImportImageTasksCommand } = await ec2Sdk();
  let tasks: ImportImageTask[];
  try {
    tasks = (await client.send(new DescribeImportImageTasksCommand({ ImportTaskIds: [taskId] }))).ImportImageTasks ?? [];
  } catch (error) {
    throw ec2Error(error, `describe ${taskId}`);
  }
  const task = tasks.find((item) => item.ImportTaskId === taskId);
  if (task === undefined) throw new DiskError('IMPORT_TASK_NOT_FOUND', `describe ${taskId}: EC2 does not list this import task (check the id and --region)`);
  return taskState(task);
}

export function taskState(task: ImportImageTask): ImportTaskState {
  const progress = task.Progress === undefined ? null : Number(task.Progress);
  return {
    taskId: task.ImportTaskId ?? '',
    status: task.Status ?? 'unknown',
    statusMessage: task.StatusMessage ?? null,
    progress: progress !== null && Number.isFinite(progress) ? progress : null,
    imageId: task.ImageId ?? null,
    snapshots: (task.SnapshotDetails ?? []).map((detail) => ({
      snapshotId: detail.SnapshotId ?? null,
      deviceName: detail.DeviceName ?? null,
      format: detail.Format ?? null,
      diskImageSize: detail.DiskImageSize ?? null,
      status: detail.Status ?? null,
      url: detail.Url ?? (detail.UserBucket === undefined ? null : `s3://${detail.UserBucket.S3Bucket ?? ''}/${detail.UserBucket.S3Key ?? ''}`),
    })),
    licenseType: task.LicenseType ?? null,
    platform: task.Platform ?? null,
    architecture: task.Architecture ?? null,
    bootMode: task.BootMode ?? null,
    description: task.Description ?? null,
  };
}
