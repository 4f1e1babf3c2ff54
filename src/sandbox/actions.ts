/**
 * The EC2 actions the sandbox serves, each from its parsed input to its result (XML members) or an Ec2Fault:
 * ImportImage (with ClientToken idempotence and DryRun), DescribeImportImageTasks (ids, the task-state filter,
 * pages), CancelImportTask and DescribeImages.
 */
import { createHash } from 'node:crypto';
import { dryRunSucceeded, Ec2Fault } from './faults.js';
import { importRequestOf, type ImportRequest } from './import-request.js';
import type { ActionName, Parsed } from './query.js';
import { ACCOUNT_ID, imageXml, taskXml } from './render.js';
import type { ImportTask, TaskStore } from './tasks.js';
import type { XmlValue } from './xml.js';

export interface ActionContext {
  store: TaskStore;
  /** Service roles that exist in the sandbox's account. */
  roles: ReadonlySet<string>;
  /** ClientToken → the task it started and the fingerprint of its parameters. */
  tokens: Map<string, { taskId: string; fingerprint: string }>;
}

type Input = Record<string, Parsed>;
type Result = Record<string, XmlValue>;

export const ACTIONS: Record<ActionName, (input: Input, context: ActionContext) => Result> = {
  ImportImage: importImage,
  DescribeImportImageTasks: describeImportImageTasks,
  CancelImportTask: cancelImportTask,
  DescribeImages: describeImages,
};

function importImage(input: Input, context: ActionContext): Result {
  const request = importRequestOf(input, context.roles);
  const earlier = request.ClientToken === undefined ? undefined : earlierTask(request.ClientToken, fingerprintOf(request), context);
  if (input.DryRun === true) throw dryRunSucceeded();
  const task = earlier ?? context.store.start(request);
  if (request.ClientToken !== undefined) context.tokens.set(request.ClientToken, { taskId: task.id, fingerprint: fingerprintOf(request) });
  const { bootMode: _notInImportImageResult, ...result } = taskXml(task);
  return result;
}

/** The task a token already started with the same parameters; a mismatch is EC2's IdempotentParameterMismatch. */
function earlierTask(token: string, fingerprint: string, context: ActionContext): ImportTask | undefined {
  const earlier = context.tokens.get(token);
  if (earlier === undefined) return undefined;
  if (earlier.fingerprint !== fingerprint) {
    throw new Ec2Fault('IdempotentParameterMismatch', `The client token ${token} was already used with different parameters.`);
  }
  return context.store.tasks.get(earlier.taskId);
}

function fingerprintOf(request: ImportRequest): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}

const TASK_STATES = ['active', 'completed', 'deleting', 'deleted'];
const IMPORT_TASK_ID = /^import-ami-[0-9a-f]{8,17}$/;

function describeImportImageTasks(input: Input, context: ActionContext): Result {
  const ids = (input.ImportTaskIds ?? []) as string[];
  const tasks = ids.length > 0 ? ids.map((id) => knownTask(id, context)) : [...context.store.tasks.values()];
  const filtered = applyFilters(tasks, input.Filters, {
    'task-state': (task, values) => {
      const bad = values.find((value) => !TASK_STATES.includes(value));
      if (bad !== undefined) throw new Ec2Fault('InvalidParameterValue', `Value (${bad}) for filter task-state is invalid. Valid values: ${TASK_STATES.join(', ')}`);
      return values.includes(task.status);
    },
  });
  if (input.DryRun === true) throw dryRunSucceeded();
  const { items, nextToken } = page(filtered, input, (task) => task.id);
  return { importImageTaskSet: items.map(taskXml), nextToken };
}

function cancelImportTask(input: Input, context: ActionContext): Result {
  const id = input.ImportTaskId;
  if (typeof id !== 'string') throw new Ec2Fault('MissingParameter', 'The request must contain the parameter ImportTaskId');
  const task = knownTask(id, context);
  if (task.status !== 'active') {
    throw new Ec2Fault('IncorrectState', `The import task ${id} cannot be cancelled: it is ${task.status}`);
  }
  if (input.DryRun === true) throw dryRunSucceeded();
  context.store.cancel(task, typeof input.CancelReason === 'string' ? input.CancelReason : 'User requested cancellation');
  return { importTaskId: task.id, previousState: 'active', state: 'deleting' };
}

/** Unknown or malformed ids both get InvalidConversionTaskId.Malformed, as the real service answers for either. */
function knownTask(id: string, context: ActionContext): ImportTask {
  const task = context.store.tasks.get(id);
  if (task !== undefined) return task;
  const problem = IMPORT_TASK_ID.test(id) ? 'does not exist' : 'is malformed (expected import-ami-xxxxxxxxxxxxxxxxx)';
  throw new Ec2Fault('InvalidConversionTaskId.Malformed', `The import task ID '${id}' ${problem}`);
}

function describeImages(input: Input, context: ActionContext): Result {
  const ids = (input.ImageIds ?? []) as string[];
  const owners = (input.Owners ?? []) as string[];
  const images = ids.length > 0 ? ids.map((id) => knownImage(id, context)) : [...context.store.images.values()];
  const owned = owners.length === 0 || owners.some((owner) => owner === 'self' || owner === ACCOUNT_ID) ? images : [];
  const filtered = applyFilters(owned, input.Filters, {
    'image-id': (ami, values) => values.includes(ami.imageId),
    name: (ami, values) => values.includes(ami.task.id),
    state: (_ami, values) => values.includes('available'),
    architecture: (ami, values) => values.includes(ami.facts.architecture),
  });
  if (input.DryRun === true) throw dryRunSucceeded();
  const { items, nextToken } = page(filtered, input, (ami) => ami.imageId);
  return { imagesSet: items.map(imageXml), nextToken };
}

function knownImage(id: string, context: ActionContext) {
  if (!/^ami-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Fault('InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "ami-...")`);
  const image = context.store.images.get(id);
  if (image === undefined) throw new Ec2Fault('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
  return image;
}

type FilterTest<T> = (item: T, values: string[]) => boolean;

/** EC2 filters: every filter must match (AND), any of a filter's values may (OR). An unknown name is an error. */
function applyFilters<T>(items: T[], filters: Parsed | undefined, tests: Record<string, FilterTest<T>>): T[] {
  const given = ((filters ?? []) as { Name?: string; Values?: string[] }[]).map(({ Name, Values }) => {
    if (Name === undefined || !Object.hasOwn(tests, Name)) throw new Ec2Fault('InvalidParameterValue', `The filter '${Name ?? ''}' is invalid`);
    return { test: tests[Name]!, values: Values ?? [] };
  });
  return items.filter((item) => given.every(({ test, values }) => test(item, values)));
}

/**
 * MaxResults/NextToken over items in creation order. The token names the last item returned, so tasks created
 * between two pages do not shift the next one.
 */
function page<T>(items: T[], input: Input, idOf: (item: T) => string): { items: T[]; nextToken?: string } {
  const max = input.MaxResults as number | undefined;
  if (max !== undefined && (max < 1 || max > 1000)) {
    throw new Ec2Fault('InvalidParameterValue', `Value (${max}) for parameter MaxResults is invalid. Expected a value from 1 to 1000.`);
  }
  let start = 0;
  if (typeof input.NextToken === 'string') {
    const after = Buffer.from(input.NextToken, 'base64url').toString('utf8');
    start = items.findIndex((item) => idOf(item) === after) + 1;
    if (start === 0) throw new Ec2Fault('InvalidPaginationToken', `The pagination token '${input.NextToken}' is invalid or expired`);
  }
  const end = max === undefined ? items.length : Math.min(items.length, start + max);
  const slice = items.slice(start, end);
  const last = slice.at(-1);
  return { items: slice, ...(end < items.length && last !== undefined ? { nextToken: Buffer.from(idOf(last)).toString('base64url') } : {}) };
}
