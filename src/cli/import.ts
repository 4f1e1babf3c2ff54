/**
 * `diskport import FILE|s3://bucket/key`, `diskport import status TASK`, `diskport import cancel TASK`: flags to
 * the library's options (every ImportImage field has one, and --request-json takes any of them as the API
 * names them), progress while it works, a short summary or one JSON result at the end. Exit status: 0 completed
 * (or started, with --no-wait), 4 when the task ends deleted, 2 for a request refused before any call.
 */
import { readFile } from 'node:fs/promises';
import type { ImageDiskContainer, Tag } from '@aws-sdk/client-ec2';
import { DiskError } from '../errors.js';
import type { ImageBuilderRequest, ImportOptions, ImportResult } from '../import/import.js';
import type { ImportOverrides } from '../import/request.js';
import type { ImportTaskState } from '../import/status.js';
import { awsOptions, interruptible, type AwsCommandOptions } from './aws-options.js';
import { importReporter } from './import-progress.js';
import { sizeText, table } from './text.js';

export interface ImportCommandOptions extends AwsCommandOptions {
  bucket?: string;
  key?: string;
  prefix?: string;
  wait?: boolean;
  force?: boolean;
  sandbox?: boolean;
  requestJson?: string;
  description?: string;
  bootMode?: string;
  architecture?: string;
  platform?: string;
  licenseType?: string;
  hypervisor?: string;
  roleName?: string;
  encrypted?: boolean;
  kmsKeyId?: string;
  usageOperation?: string;
  clientToken?: string;
  dryRun?: boolean;
  tag?: string[];
  licenseConfigurationArn?: string[];
  diskDescription?: string;
  deviceName?: string;
  diskFormat?: string;
  diskUrl?: string;
  snapshotId?: string;
  clientDataComment?: string;
  imageBuilder?: string;
}

export async function runImport(input: string, options: ImportCommandOptions): Promise<number> {
  const overrides = await overridesOf(options);
  const reporter = await importReporter({ json: options.json });
  return interruptible(async (signal) => {
    const { importImage } = await import('../import/import.js');
    const settings: ImportOptions = {
      ...awsOptions(options),
      bucket: options.bucket,
      key: options.key,
      prefix: options.prefix,
      overrides,
      imageBuilder: options.imageBuilder === undefined ? undefined : await imageBuilderRequest(options.imageBuilder),
      force: options.force,
      wait: options.wait,
      signal,
      onEvent: (event) => reporter?.update(event),
    };
    const result = options.sandbox ? await inSandbox(input, settings) : await importImage(input, settings);
    reporter?.stop();
    return finish(result, options.json);
  }).finally(() => reporter?.stop());
}

/** The run against a sandbox started for it: its endpoints, credentials and bucket (or --bucket, created there). */
async function inSandbox(input: string, settings: ImportOptions): Promise<ImportResult> {
  if (settings.wait === false) throw new DiskError('USAGE', '--no-wait with --sandbox: the sandbox stops when the command ends, and its task with it; run `diskport sandbox` to keep one');
  if (input.startsWith('s3://')) {
    throw new DiskError('USAGE', `--sandbox starts an empty sandbox, so ${input} cannot be in it: give a local file, or run \`diskport sandbox\` and import from there`);
  }
  const [{ withSandbox }, { importImage }] = await Promise.all([import('../import/sandboxed.js'), import('../import/import.js')]);
  return withSandbox(
    // The sandbox ends with the run, so an upload memo could never be used again.
    (sandbox) => importImage(input, { ...settings, ...sandbox, bucket: settings.bucket ?? sandbox.bucket, profile: undefined, memoFolder: null }),
    settings.bucket === undefined ? {} : { buckets: [settings.bucket] },
  );
}

/** Prints the result; a task that ended deleted also gets its StatusMessage on stderr and a non-zero status. */
function finish(result: ImportResult, json: boolean | undefined): number {
  const failed = result.task?.status === 'deleted';
  const error = failed ? new DiskError('IMPORT_FAILED', `${result.taskId} ended deleted: ${result.task!.statusMessage ?? 'no StatusMessage'}`, { file: result.file }) : undefined;
  if (json) process.stdout.write(`${JSON.stringify({ event: 'result', ...result, ...(error === undefined ? {} : { error: error.toJSON() }) })}\n`);
  else process.stdout.write(summary(result));
  if (error === undefined) return 0;
  process.stderr.write(`diskport: ${error.describe()} (${error.code})\n`);
  return error.exitStatus;
}

function summary(result: ImportResult): string {
  if (result.dryRun) return table([['dry run', 'ImportImage would succeed (DryRunOperation)'], ['file', result.file]]);
  const rows: [string, string][] = [['file', result.file]];
  if (result.convertedTo !== null) rows.push(['converted', `to ${result.convertedTo.toUpperCase()} (streamOptimized) while uploading`]);
  if (result.upload !== null) rows.push(['uploaded', `${result.upload.url} (${sizeText(result.upload.size)}${result.upload.reused ? ', from an earlier run' : ''})`]);
  const imageBuilder: [string, string][] = result.imageBuilder?.imageArn ? [['image builder', result.imageBuilder.imageArn]] : [];
  return table([...rows, ...taskRows(result.task!), ...imageBuilder]);
}

export function taskRows(task: ImportTaskState): [string, string][] {
  const rows: [string, string][] = [
    ['task', task.taskId],
    ['status', task.status === 'active' ? `active: ${task.statusMessage ?? ''}${task.progress === null ? '' : ` (${task.progress} %)`}` : task.status],
  ];
  if (task.status !== 'active' && task.statusMessage !== null) rows.push(['message', task.statusMessage]);
  if (task.imageId !== null) rows.push(['image', task.imageId]);
  for (const snapshot of task.snapshots) {
    const facts = [snapshot.deviceName, snapshot.format, snapshot.diskImageSize === null ? null : sizeText(snapshot.diskImageSize)].filter((fact) => fact !== null);
    rows.push(['snapshot', `${snapshot.snapshotId ?? '(not yet)'}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`]);
  }
  for (const [name, value] of [['license', task.licenseType], ['platform', task.platform], ['arch', task.architecture], ['boot mode', task.bootMode]] as const) {
    if (value !== null) rows.push([name, value]);
  }
  return rows;
}

export async function runImportStatus(taskId: string, options: AwsCommandOptions): Promise<number> {
  const { importStatus } = await import('../import/status.js');
  const state = await importStatus(taskId, awsOptions(options));
  process.stdout.write(options.json ? `${JSON.stringify(state)}\n` : table(taskRows(state)));
  return 0;
}

export async function runImportCancel(taskId: string, options: AwsCommandOptions & { reason?: string }): Promise<number> {
  const { cancelImport } = await import('../import/cancel.js');
  const result = await cancelImport(taskId, { ...awsOptions(options), reason: options.reason });
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : table([['task', result.taskId], ['was', result.previousState ?? '?'], ['now', result.state ?? '?']]));
  return 0;
}

/** The ImportImage fields the flags set, over those of --request-json; the library validates them all. */
async function overridesOf(options: ImportCommandOptions): Promise<ImportOverrides> {
  const fromFile = options.requestJson === undefined ? {} : await requestFile(options.requestJson);
  const disk: ImageDiskContainer = defined({
    Description: options.diskDescription,
    DeviceName: options.deviceName,
    Format: options.diskFormat,
    Url: options.diskUrl,
    SnapshotId: options.snapshotId,
  });
  const tags = (options.tag ?? []).map(tagOf);
  const containers = fromFile.DiskContainers ?? [];
  return {
    ...fromFile,
    ...defined({
      Description: options.description,
      BootMode: options.bootMode,
      Architecture: options.architecture,
      Platform: options.platform,
      LicenseType: options.licenseType,
      Hypervisor: options.hypervisor,
      RoleName: options.roleName,
      Encrypted: options.encrypted,
      KmsKeyId: options.kmsKeyId,
      UsageOperation: options.usageOperation,
      ClientToken: options.clientToken,
      DryRun: options.dryRun,
    }),
    ...(Object.keys(disk).length === 0 ? {} : { DiskContainers: [{ ...containers[0], ...disk }, ...containers.slice(1)] }),
    ...(tags.length === 0 ? {} : { TagSpecifications: [...(fromFile.TagSpecifications ?? []), { ResourceType: 'import-image-task', Tags: tags }] }),
    ...(options.licenseConfigurationArn === undefined ? {} : { LicenseSpecifications: options.licenseConfigurationArn.map((arn) => ({ LicenseConfigurationArn: arn })) }),
    ...(options.clientDataComment === undefined ? {} : { ClientData: { ...fromFile.ClientData, Comment: options.clientDataComment } }),
  } as ImportOverrides;
}

/**
 * `--image-builder name=web,semantic-version=1.0.0,platform=Linux[,os-version=…,description=…,client-token=…]`:
 * the AWS CLI's shorthand with import-vm-image's option names, checked before anything is uploaded.
 */
async function imageBuilderRequest(text: string): Promise<ImageBuilderRequest> {
  const { parseShorthand } = await import('../awscli/shorthand.js');
  const fields = await parseShorthand(text, '--image-builder');
  const known: Record<string, keyof ImageBuilderRequest> = {
    name: 'name', 'semantic-version': 'semanticVersion', platform: 'platform', 'os-version': 'osVersion',
    description: 'description', 'client-token': 'clientToken',
  };
  const request: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    const field = known[key];
    if (field === undefined) throw new DiskError('USAGE', `--image-builder: unknown key ${JSON.stringify(key)} (one of ${Object.keys(known).join(', ')})`);
    if (typeof value !== 'string') throw new DiskError('USAGE', `--image-builder: ${key} takes a single value`);
    request[field] = value;
  }
  return request as ImageBuilderRequest;
}

/** KEY=VALUE; the value may be empty or hold further `=`. */
function tagOf(text: string): Tag {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new DiskError('USAGE', `--tag takes KEY=VALUE, not ${JSON.stringify(text)}`);
  return { Key: text.slice(0, equals), Value: text.slice(equals + 1) };
}

/** A JSON file of ImportImage fields (what `aws ec2 import-image --cli-input-json` reads). */
async function requestFile(path: string): Promise<ImportOverrides> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const why = error instanceof SyntaxError ? `not JSON (${error.message})` : (error as NodeJS.ErrnoException).code ?? String(error);
    throw new DiskError('USAGE', `--request-json ${path}: ${why}`, { file: path });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DiskError('USAGE', `--request-json ${path}: expected a JSON object of ImportImage fields`, { file: path });
  }
  const request = parsed as ImportOverrides & { ClientData?: Record<string, unknown> };
  const clientData = request.ClientData;
  if (clientData === undefined) return request;
  // The SDK sends timestamps from Dates; JSON holds them as text.
  const dates = Object.fromEntries(['UploadStart', 'UploadEnd'].filter((name) => typeof clientData[name] === 'string').map((name) => [name, new Date(clientData[name] as string)]));
  return { ...request, ClientData: { ...clientData, ...dates } } as ImportOverrides;
}

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
