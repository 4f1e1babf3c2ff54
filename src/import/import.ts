/**
 * `importImage(input, options)`: the whole way from a disk image to an AMI. check → (convert, when the format is
 * not one VM Import reads) → upload, when the input is a local file → ImportImage → follow the task to completed
 * or deleted. Every request is built and validated before the first call, so a bad parameter costs nothing; an
 * image whose check finds errors is not imported unless `force`.
 */
import { basename, extname } from 'node:path';
import type { EC2Client, ImportImageCommandOutput } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CheckReport } from '../check.js';
import { DiskError } from '../errors.js';
import type { Finding, ImportIntent } from '../preflight/index.js';
import { createS3Client } from '../upload/client.js';
import { HASH_METADATA_KEY } from '../upload/content-hash.js';
import { uploadConverted } from '../upload/convert-upload.js';
import { headObject } from '../upload/multipart.js';
import { isS3Url, parseS3Url, s3Url, type S3Target } from '../upload/target.js';
import { upload, type UploadProgress } from '../upload/upload.js';
import { sendImportVmImage, validateImportVmImage, type ImportVmImageInput } from '../awscli/imagebuilder.js';
import { createEc2Client, ec2Sdk, type Ec2ClientOptions } from './client.js';
import { ec2Error } from './ec2-errors.js';
import { followImport, type FollowOptions } from './follow.js';
import { defaultMemoFolder, recallUpload, rememberUpload } from './memo.js';
import { blockingFindings, checkInput, checkedRequest, needsConversion } from './preflight.js';
import { CLIENT_DATA_COMMENT, mergeRequest, type ImportImageInput, type ImportOverrides } from './request.js';
import { taskState, type ImportTaskState } from './status.js';
import { deriveClientToken } from './token.js';
import { validateRequest } from './validate.js';

export interface ImportOptions extends Ec2ClientOptions {
  /** The S3 endpoint for the upload and s3:// inputs; default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. */
  s3EndpointUrl?: string;
  /** Where a local file is uploaded: the bucket (required for a local file), and the key or a key prefix. */
  bucket?: string;
  key?: string;
  prefix?: string;
  /** Any ImportImage field, set or overriding what the check implies (see request.ts). */
  overrides?: ImportOverrides;
  /** Import even when the check finds errors (or cannot read the image). */
  force?: boolean;
  /** Follow the task to its end (default); false returns once ImportImage has answered. */
  wait?: boolean;
  onEvent?: (event: ImportEvent) => void;
  /** Interrupts the upload (resumable) or stops following (the import goes on). */
  signal?: AbortSignal;
  follow?: Pick<FollowOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor'>;
  /** Where finished uploads are remembered (memo.ts); null: never reuse an upload. */
  memoFolder?: string | null;
  /** Clients to use instead of making them from the options. */
  clients?: { ec2?: EC2Client; s3?: S3Client };
  /**
   * Register the AMI with EC2 Image Builder (ImportVmImage) once the import completes: everything but the task id,
   * which comes from the import. Checked before anything is uploaded. Only with `wait` (the default).
   */
  imageBuilder?: ImageBuilderRequest;
  /** The Image Builder endpoint; default AWS_ENDPOINT_URL_IMAGEBUILDER / AWS_ENDPOINT_URL. */
  imageBuilderEndpointUrl?: string;
}

export type ImageBuilderRequest = Omit<ImportVmImageInput, 'vmImportTaskId'>;

export type ImportEvent =
  | { event: 'check'; file: string; ok: boolean; counts: CheckReport['counts']; convertTo: 'vmdk' | null }
  | { event: 'progress'; phase: UploadProgress['phase']; bytes: number; total: number | undefined }
  | { event: 'uploaded'; url: string; size: number; xxh64: string; reused: boolean }
  | { event: 'started'; taskId: string; clientToken: string }
  | { event: 'task'; state: ImportTaskState }
  | { event: 'imagebuilder'; imageArn: string };

export interface UploadedDisk {
  url: string;
  size: number;
  xxh64: string;
  /** The object was already there from an earlier run of the same import (memo.ts). */
  reused: boolean;
  uploadStart: string;
  uploadEnd: string;
}

export interface ImportResult {
  file: string;
  check: { ok: boolean; counts: CheckReport['counts']; findings: Finding[] };
  convertedTo: 'vmdk' | null;
  /** null for an s3:// input, or a dry run. */
  upload: UploadedDisk | null;
  request: ImportImageInput;
  clientToken: string;
  dryRun: boolean;
  /** null for a dry run. */
  taskId: string | null;
  /** The task at its end (completed or deleted) when followed; as ImportImage returned it otherwise. */
  task: ImportTaskState | null;
  /** What Image Builder's ImportVmImage answered, when `imageBuilder` was given and the import completed. */
  imageBuilder?: ImageBuilderResult;
}

export interface ImageBuilderResult {
  requestId: string | null;
  imageArn: string | null;
  clientToken: string | null;
}

const GiB = 2 ** 30;

export async function importImage(input: string, options: ImportOptions = {}): Promise<ImportResult> {
  const clients = lazyClients(options);
  try {
    return await run(input, options, clients);
  } finally {
    clients.destroy();
  }
}

async function run(input: string, options: ImportOptions, clients: LazyClients): Promise<ImportResult> {
  const remote = isS3Url(input);
  const overrides = options.overrides ?? {};
  const intent = intentOf(overrides);
  const report = await checkInput(input, intent, clients.s3);
  const converting = !remote && needsConversion(report);
  options.onEvent?.({ event: 'check', file: report.file, ok: report.ok, counts: report.counts, convertTo: converting ? 'vmdk' : null });

  const target = remote ? parseS3Url(input) : destination(input, options, converting);
  const derived = { checked: checkedRequest(report, intent, converting), disks: [target], ...(converting ? { formats: ['VMDK'] } : {}) };
  // Everything is checked before the first call: a bad parameter (the caller's to fix, whatever the image) or an
  // image VM Import would refuse must not cost an upload.
  const planned = validateRequest(mergeRequest({ ...derived, clientData: clientDataOf(report.inspect?.fileSize ?? 0) }, overrides));
  if (options.imageBuilder !== undefined) checkImageBuilder(options);
  refuseUnlessForced(report, converting, options.force);
  if (planned.DryRun === true) return dryRun(report, converting, planned, clients);

  const uploaded = remote ? undefined : await uploadDisk(input, target, converting, options, clients);
  const object = uploaded ?? (await objectIdentity(await clients.s3(), target));
  const unsigned = mergeRequest({ ...derived, clientData: clientDataOf(object.size, uploaded) }, overrides);
  const clientToken = overrides.ClientToken ?? deriveClientToken({ contents: [object.xxh64], request: unsigned });
  const request = validateRequest({ ...unsigned, ClientToken: clientToken });

  const started = await sendImportImage(await clients.ec2(), request);
  const taskId = started.taskId;
  options.onEvent?.({ event: 'started', taskId, clientToken });
  options.onEvent?.({ event: 'task', state: started });
  const task =
    options.wait === false
      ? started
      : await followImport(await clients.ec2(), taskId, {
          ...options.follow,
          signal: options.signal,
          onUpdate: (state) => options.onEvent?.({ event: 'task', state }),
        });
  const result: ImportResult = { ...resultBase(report, converting, request), upload: uploaded ?? null, clientToken, dryRun: false, taskId, task };
  if (options.imageBuilder !== undefined && task.status === 'completed') result.imageBuilder = await registerWithImageBuilder(taskId, options);
  return result;
}

/** The Image Builder request's own rules, before anything is uploaded (a bad version must not cost an import). */
function checkImageBuilder(options: ImportOptions): void {
  if (options.wait === false) throw new DiskError('USAGE', '--image-builder needs the import followed to its end: leave out --no-wait');
  validateImportVmImage({ ...options.imageBuilder, vmImportTaskId: 'import-ami-0' });
  for (const field of ['name', 'semanticVersion', 'platform'] as const) {
    if (options.imageBuilder?.[field] === undefined) throw new DiskError('USAGE', `the Image Builder request needs ${field}`, { field });
  }
}

async function registerWithImageBuilder(taskId: string, options: ImportOptions): Promise<ImageBuilderResult> {
  const answer = (await sendImportVmImage(
    { ...options.imageBuilder, vmImportTaskId: taskId },
    { endpointUrl: options.imageBuilderEndpointUrl, region: options.region, profile: options.profile, credentials: options.credentials },
  )) as Partial<ImageBuilderResult>;
  const result = { requestId: answer.requestId ?? null, imageArn: answer.imageArn ?? null, clientToken: answer.clientToken ?? null };
  if (result.imageArn !== null) options.onEvent?.({ event: 'imagebuilder', imageArn: result.imageArn });
  return result;
}

/** What the caller asks ImportImage for, as the check's intent: a contradiction with the disk is a finding. */
function intentOf(overrides: ImportOverrides): ImportIntent {
  return {
    ...(overrides.BootMode === undefined ? {} : { bootMode: overrides.BootMode as ImportIntent['bootMode'] }),
    ...(overrides.Platform === undefined ? {} : { platform: overrides.Platform as ImportIntent['platform'] }),
    ...(overrides.Architecture === undefined ? {} : { architecture: overrides.Architecture as ImportIntent['architecture'] }),
  };
}

function refuseUnlessForced(report: CheckReport, converting: boolean, force: boolean | undefined): void {
  if (force) return;
  if (report.error !== undefined) {
    throw new DiskError('IMPORT_CHECK_FAILED', `the image cannot be read (${report.error.code}: ${report.error.message}); nothing was imported`, { file: report.file });
  }
  const blocking = blockingFindings(report, converting);
  if (blocking.length === 0) return;
  const codes = blocking.map((f) => f.code).join(', ');
  throw new DiskError(
    'IMPORT_CHECK_FAILED',
    `VM Import would refuse this image (${codes}): ${blocking[0]!.message}; fix it (diskport check says how) or pass --force`,
    { file: report.file },
  );
}

/** The object a local file goes to: --key, or the prefix and the file's name (a converted one's ends in .vmdk). */
function destination(file: string, options: ImportOptions, converting: boolean): S3Target {
  if (options.bucket === undefined) {
    throw new DiskError('USAGE', `a local file is uploaded first: give the bucket (--bucket, or --sandbox), or import an s3://bucket/key`, { file });
  }
  const name = converting ? `${basename(file, extname(file))}.vmdk` : basename(file);
  return parseS3Url(`s3://${options.bucket}/${options.key ?? `${options.prefix ?? ''}${name}`}`);
}

function clientDataOf(bytes: number, uploaded?: UploadedDisk): NonNullable<ImportImageInput['ClientData']> {
  return {
    UploadSize: Math.round((bytes / GiB) * 1e6) / 1e6,
    ...(uploaded === undefined ? {} : { UploadStart: new Date(uploaded.uploadStart), UploadEnd: new Date(uploaded.uploadEnd) }),
    Comment: CLIENT_DATA_COMMENT,
  };
}

async function uploadDisk(file: string, target: S3Target, converting: boolean, options: ImportOptions, clients: LazyClients): Promise<UploadedDisk> {
  const client = await clients.s3();
  const memoFolder = options.memoFolder === undefined ? defaultMemoFolder() : options.memoFolder;
  const key = { file, target, convertedTo: converting ? 'vmdk' : null };
  const memo = memoFolder === null ? undefined : await recallUpload(memoFolder, key, client);
  if (memo !== undefined) {
    const reused: UploadedDisk = { url: s3Url(target), size: memo.size, xxh64: memo.xxh64, reused: true, uploadStart: memo.uploadStart, uploadEnd: memo.uploadEnd };
    options.onEvent?.({ event: 'uploaded', url: reused.url, size: reused.size, xxh64: reused.xxh64, reused: true });
    return reused;
  }
  const settings = { client, signal: options.signal, onProgress: (progress: UploadProgress) => options.onEvent?.({ event: 'progress', ...progress }) };
  const result = converting ? await uploadConverted(file, target, { ...settings, as: 'vmdk' }) : await upload(file, target, settings);
  const uploaded: UploadedDisk = { url: result.url, size: result.size, xxh64: result.xxh64, reused: false, uploadStart: result.uploadStart, uploadEnd: result.uploadEnd };
  if (memoFolder !== null) await rememberUpload(memoFolder, key, { etag: result.etag, xxh64: result.xxh64, size: result.size, uploadStart: result.uploadStart, uploadEnd: result.uploadEnd });
  options.onEvent?.({ event: 'uploaded', url: uploaded.url, size: uploaded.size, xxh64: uploaded.xxh64, reused: false });
  return uploaded;
}

/** An object's size and content identity: the XXH64 diskport stored with it, else its ETag. */
async function objectIdentity(client: S3Client, target: S3Target): Promise<{ size: number; xxh64: string }> {
  const head = await headObject(client, target);
  return { size: head.size, xxh64: head.metadata[HASH_METADATA_KEY] ?? head.etag };
}

async function sendImportImage(client: EC2Client, request: ImportImageInput): Promise<ImportTaskState> {
  const { ImportImageCommand } = await ec2Sdk();
  let reply: ImportImageCommandOutput;
  try {
    reply = await client.send(new ImportImageCommand(request));
  } catch (error) {
    throw ec2Error(error, 'ImportImage');
  }
  if (reply.ImportTaskId === undefined) throw new DiskError('EC2_REQUEST_FAILED', 'ImportImage answered without an ImportTaskId');
  return taskState(reply);
}

/** DryRun: EC2 answers DryRunOperation when the request would have been accepted; nothing is uploaded. */
async function dryRun(report: CheckReport, converting: boolean, request: ImportImageInput, clients: LazyClients): Promise<ImportResult> {
  const { ImportImageCommand } = await ec2Sdk();
  try {
    await (await clients.ec2()).send(new ImportImageCommand(request));
  } catch (error) {
    if ((error as { name?: string }).name !== 'DryRunOperation') throw ec2Error(error, 'ImportImage (dry run)');
    return { ...resultBase(report, converting, request), upload: null, clientToken: request.ClientToken ?? '', dryRun: true, taskId: null, task: null };
  }
  throw new DiskError('EC2_REQUEST_FAILED', 'ImportImage with DryRun started a task instead of answering DryRunOperation: check the endpoint');
}

function resultBase(report: CheckReport, converting: boolean, request: ImportImageInput) {
  return {
    file: report.file,
    check: { ok: report.ok, counts: report.counts, findings: report.findings },
    convertedTo: converting ? ('vmdk' as const) : null,
    request,
  };
}

interface LazyClients {
  ec2(): Promise<EC2Client>;
  s3(): Promise<S3Client>;
  destroy(): void;
}

/** Each client made on first use, from the options (S3 shares the credentials, profile and region). */
function lazyClients(options: ImportOptions): LazyClients {
  let ec2: Promise<EC2Client> | undefined;
  let s3: Promise<S3Client> | undefined;
  const shared = { profile: options.profile, region: options.region, credentials: options.credentials, maxAttempts: options.maxAttempts };
  return {
    ec2: () => (ec2 ??= options.clients?.ec2 !== undefined ? Promise.resolve(options.clients.ec2) : createEc2Client(options)),
    s3: () => (s3 ??= options.clients?.s3 !== undefined ? Promise.resolve(options.clients.s3) : createS3Client({ ...shared, endpointUrl: options.s3EndpointUrl })),
    destroy: () => {
      if (options.clients?.ec2 === undefined) void ec2?.then((client) => client.destroy());
      if (options.clients?.s3 === undefined) void s3?.then((client) => client.destroy());
    },
  };
}
