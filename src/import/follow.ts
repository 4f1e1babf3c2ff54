/**
 * Follows an import task with DescribeImportImageTasks until it is completed or deleted. The wait between calls
 * grows by `factor` up to `maxDelayMs` (a real import takes tens of minutes; polling every second would only
 * spend the account's API rate) and drops back to `initialDelayMs` whenever the task moves on, so a fast task
 * (the sandbox's take seconds) is followed closely. Every new state is reported once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { DiskError } from '../errors.js';
import { describeTask, isFinal, type ImportTaskState } from './status.js';

export interface FollowOptions {
  /** Called for each state that differs from the last (status, message or progress). */
  onUpdate?: (state: ImportTaskState) => void;
  /** Stops following (the task keeps running): the promise rejects with IMPORT_INTERRUPTED. */
  signal?: AbortSignal;
  /** First wait between calls; default 500 ms. */
  initialDelayMs?: number;
  /** Longest wait; default 20 s. */
  maxDelayMs?: number;
  /** Growth of the wait while nothing changes; default 1.5. */
  factor?: number;
}

const DEFAULTS = { initialDelayMs: 500, maxDelayMs: 20_000, factor: 1.5 };

export async function followImport(client: EC2Client, taskId: string, options: FollowOptions = {}): Promise<ImportTaskState> {
  const { initialDelayMs, maxDelayMs, factor } = { ...DEFAULTS, ...definedOnly(options) };
  if (!(initialDelayMs > 0 && maxDelayMs >= initialDelayMs && factor >= 1)) {
    throw new DiskError('USAGE', `follow delays must satisfy 0 < initial (${initialDelayMs}) <= max (${maxDelayMs}) and factor (${factor}) >= 1`);
  }
  let delay = initialDelayMs;
  let last = '';
  for (;;) {
    if (options.signal?.aborted) throw interrupted(taskId);
    const state = await describeTask(client, taskId);
    const key = `${state.status}|${state.statusMessage ?? ''}|${state.progress ?? ''}`;
    if (key !== last) {
      last = key;
      delay = initialDelayMs;
      options.onUpdate?.(state);
    } else {
      delay = Math.min(maxDelayMs, delay * factor);
    }
    if (isFinal(state)) return state;
    try {
      await sleep(delay, undefined, { signal: options.signal });
    } catch {
      throw interrupted(taskId);
    }
  }
}

function interrupted(taskId: string): DiskError {
  return new DiskError('IMPORT_INTERRUPTED', `stopped following ${taskId}; the import goes on: diskport import status ${taskId}`);
}

function definedOnly(options: FollowOptions): Partial<typeof DEFAULTS> {
  const { initialDelayMs, maxDelayMs, factor } = options;
  return Object.fromEntries(Object.entries({ initialDelayMs, maxDelayMs, factor }).filter(([, value]) => value !== undefined));
}
