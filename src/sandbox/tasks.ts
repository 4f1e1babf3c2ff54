/**
 * The import tasks of the sandbox's account, and the state machine each one runs: the statuses and messages VM
 * Import shows (active: pending → validating → validated → converting → updating → booting → booted → preparing
 * ami → completed), with Progress, timed so an import takes a few seconds (divided by `speed`). The disks are
 * judged (read from S3, preflight) while `validating`; a failure shows at its stage as `deleting`, then
 * `deleted`, with its ClientError StatusMessage. A completed task leaves an AMI behind.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ImportRequest } from './import-request.js';
import { judgeImport, type Failure, type ImageFacts, type Verdict } from './verdict.js';

export type TaskStatus = 'active' | 'completed' | 'deleting' | 'deleted';

export interface ImportTask {
  id: string;
  request: ImportRequest;
  createdAt: Date;
  status: TaskStatus;
  statusMessage?: string;
  progress?: number;
  /** Known once the disks were judged. */
  facts?: ImageFacts;
  /** Known once the disks are converted: one per snapshot, in order. */
  snapshotIds?: string[];
  imageId?: string;
}

export interface Ami {
  imageId: string;
  task: ImportTask;
  facts: ImageFacts;
  snapshotIds: string[];
  createdAt: Date;
}

/** The active StatusMessages in order, with the Progress shown and how long each lasts at speed 1. */
const STEPS = [
  { message: 'pending', progress: 2, ms: 300 },
  { message: 'validating', progress: 10, ms: 300 },
  { message: 'validated', progress: 19, ms: 300 },
  { message: 'converting', progress: 28, ms: 700 },
  { message: 'updating', progress: 40, ms: 600 },
  { message: 'booting', progress: 59, ms: 600 },
  { message: 'booted', progress: 69, ms: 300 },
  { message: 'preparing ami', progress: 88, ms: 500 },
] as const;
/** How long a failed or cancelled task stays `deleting`. */
const DELETING_MS = 400;

export interface TaskRunnerOptions {
  s3: S3Client;
  /** Divides every step's duration (tests use 20 or more). */
  speed: number;
}

export class TaskStore {
  readonly tasks = new Map<string, ImportTask>();
  readonly images = new Map<string, Ami>();
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly options: TaskRunnerOptions;

  constructor(options: TaskRunnerOptions) {
    this.options = options;
  }

  /** Creates the task (status active, pending) and starts it. */
  start(request: ImportRequest): ImportTask {
    const task: ImportTask = { id: `import-ami-${hexId()}`, request, createdAt: new Date(), status: 'active', statusMessage: 'pending', progress: STEPS[0].progress };
    this.tasks.set(task.id, task);
    const abort = new AbortController();
    const done = this.run(task, abort.signal).catch((error: unknown) => {
      if (!abort.signal.aborted) this.fail(task, { code: 'INTERNAL', stage: 'validating', statusMessage: `ServerError: ${String(error)}` });
    });
    this.running.set(task.id, { abort, done: done.finally(() => this.running.delete(task.id)) });
    return task;
  }

  /** Stops an active task: `deleting`, then `deleted` with the reason as its StatusMessage. */
  cancel(task: ImportTask, reason: string): void {
    this.running.get(task.id)?.abort.abort();
    task.status = 'deleting';
    task.statusMessage = reason;
    delete task.progress;
    void this.pause(DELETING_MS).then(() => {
      task.status = 'deleted';
    });
  }

  /** Stops every running task (the sandbox is closing). */
  async close(): Promise<void> {
    const running = [...this.running.values()];
    for (const { abort } of running) abort.abort();
    await Promise.all(running.map(({ done }) => done));
  }

  private async run(task: ImportTask, signal: AbortSignal): Promise<void> {
    let verdict: Verdict | undefined;
    for (const step of STEPS) {
      task.statusMessage = step.message;
      task.progress = step.progress;
      if (step.message === 'validating') verdict = await judgeImport(task.request, this.options.s3, signal);
      if (verdict?.failure !== undefined && verdict.failure.stage === step.message) return this.fail(task, verdict.failure);
      if (step.message === 'validated' && verdict?.facts !== undefined) task.facts = verdict.facts;
      if (step.message === 'converting') task.snapshotIds = (task.facts?.snapshots ?? []).map(() => `snap-${hexId()}`);
      await sleep(step.ms / this.options.speed, undefined, { signal });
    }
    this.complete(task);
  }

  private complete(task: ImportTask): void {
    const imageId = `ami-${hexId()}`;
    this.images.set(imageId, { imageId, task, facts: task.facts!, snapshotIds: task.snapshotIds!, createdAt: new Date() });
    task.imageId = imageId;
    task.status = 'completed';
    delete task.statusMessage;
    delete task.progress;
  }

  private async fail(task: ImportTask, failure: Failure): Promise<void> {
    task.status = 'deleting';
    task.statusMessage = failure.statusMessage;
    delete task.progress;
    await this.pause(DELETING_MS);
    task.status = 'deleted';
  }

  /** A wait that never keeps the process alive on its own. */
  private pause(ms: number): Promise<void> {
    return sleep(ms / this.options.speed, undefined, { ref: false });
  }
}

/** EC2's long resource ids: 17 lowercase hex digits. */
export function hexId(): string {
  return randomBytes(9).toString('hex').slice(0, 17);
}
