/**
 * The multipart calls s3rver lacks, answered from its own upload folders so the sandbox's S3 takes what clients do
 * after a failure: ListParts (`diskport upload --resume`), AbortMultipartUpload (the AWS CLI, boto3's s3transfer and
 * diskport all abort a failed upload) and ListMultipartUploads (finding orphans). s3rver keeps an upload in
 * `<store>/<bucket>/._S3rver_uploads/<UploadId>/`: the key in `key`, and each part as a file named by its number,
 * with its MD5 (the ETag) in `<number>.md5`, written once the part is whole.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { escapeText } from './xml.js';

const NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
/** s3rver's one account, which owns and initiates everything. */
const OWNER = { ID: '123456789000', DisplayName: 'S3rver' };
const UPLOADS_FOLDER = '._S3rver_uploads';
const MAX_LISTED = 1000;
/** Bucket names as S3 allows them (path-style), so a name can never climb out of the store. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** s3rver's upload ids are 32 hex digits; anything else names no upload. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

interface Request {
  bucket: string;
  key: string;
  query: URLSearchParams;
}

interface Upload {
  key: string;
  uploadId: string;
  initiated: Date;
}

interface Part {
  number: number;
  etag: string;
  size: number;
  lastModified: Date;
}

/**
 * Handles the request when it is one of the three calls (true), or leaves it to s3rver (false). `store` is
 * s3rver's folder; `accessKeyId` the one key it accepts.
 */
export function createUploadsHandler(store: string, accessKeyId: string): (request: IncomingMessage, response: ServerResponse) => Promise<boolean> {
  return async (request, response) => {
    const parsed = parse(request);
    if (parsed === undefined) return false;
    const { bucket, key, query } = parsed;
    const call =
      request.method === 'GET' && key === '' && query.has('uploads') ? listUploads
      : request.method === 'GET' && key !== '' && query.has('uploadId') ? listParts
      : request.method === 'DELETE' && key !== '' && query.has('uploadId') ? abortUpload
      : undefined;
    if (call === undefined) return false;
    request.resume(); // these calls carry no body
    if (!signedByOrAnonymous(request, query, accessKeyId)) {
      reply(response, 403, errorXml('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'));
    } else if (!BUCKET_NAME.test(bucket) || !(await isFolder(join(store, bucket)))) {
      reply(response, 404, errorXml('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket }));
    } else {
      await call(join(store, bucket, UPLOADS_FOLDER), parsed, response);
    }
    return true;
  };
}

async function listUploads(folder: string, { bucket, query }: Request, response: ServerResponse): Promise<void> {
  const prefix = query.get('prefix') ?? '';
  const keyMarker = query.get('key-marker') ?? '';
  const idMarker = query.get('upload-id-marker') ?? '';
  const max = limitOf(query.get('max-uploads'));
  const uploads = (await allUploads(folder))
    .filter((upload) => upload.key.startsWith(prefix))
    .filter((upload) => upload.key > keyMarker || (upload.key === keyMarker && idMarker !== '' && upload.uploadId > idMarker))
    .sort((a, b) => (a.key === b.key ? compare(a.uploadId, b.uploadId) : compare(a.key, b.key)));
  const page = uploads.slice(0, max);
  const truncated = uploads.length > page.length;
  const url = query.get('encoding-type') === 'url';
  const encode = (text: string) => (url ? encodeURIComponent(text) : text);
  const body = [
    element('Bucket', bucket),
    element('KeyMarker', encode(keyMarker)),
    element('UploadIdMarker', idMarker),
    truncated ? element('NextKeyMarker', encode(page.at(-1)!.key)) + element('NextUploadIdMarker', page.at(-1)!.uploadId) : '',
    prefix === '' ? '' : element('Prefix', encode(prefix)),
    element('MaxUploads', String(max)),
    element('IsTruncated', String(truncated)),
    url ? element('EncodingType', 'url') : '',
    ...page.map((upload) =>
      nest(
        'Upload',
        element('Key', encode(upload.key)) + element('UploadId', upload.uploadId) + owner('Initiator') + owner('Owner') +
          element('StorageClass', 'STANDARD') + element('Initiated', upload.initiated.toISOString()),
      ),
    ),
  ];
  reply(response, 200, document('ListMultipartUploadsResult', body.join('')));
}

async function listParts(folder: string, { bucket, key, query }: Request, response: ServerResponse): Promise<void> {
  const uploadId = query.get('uploadId') ?? '';
  const upload = await uploadOf(folder, uploadId, key);
  if (upload === undefined) return noSuchUpload(response, uploadId);
  const marker = Number(query.get('part-number-marker') ?? '0') || 0;
  const max = limitOf(query.get('max-parts'));
  const parts = (await partsOf(join(folder, uploadId))).filter((part) => part.number > marker);
  const page = parts.slice(0, max);
  const truncated = parts.length > page.length;
  const body = [
    element('Bucket', bucket),
    element('Key', key),
    element('UploadId', uploadId),
    owner('Initiator'),
    owner('Owner'),
    element('StorageClass', 'STANDARD'),
    element('PartNumberMarker', String(marker)),
    element('NextPartNumberMarker', String(page.at(-1)?.number ?? marker)),
    element('MaxParts', String(max)),
    element('IsTruncated', String(truncated)),
    ...page.map((part) =>
      nest(
        'Part',
        element('PartNumber', String(part.number)) + element('LastModified', part.lastModified.toISOString()) +
          element('ETag', `"${part.etag}"`) + element('Size', String(part.size)),
      ),
    ),
  ];
  reply(response, 200, document('ListPartsResult', body.join('')));
}

async function abortUpload(folder: string, { key, query }: Request, response: ServerResponse): Promise<void> {
  const uploadId = query.get('uploadId') ?? '';
  if ((await uploadOf(folder, uploadId, key)) === undefined) return noSuchUpload(response, uploadId);
  await rm(join(folder, uploadId), { recursive: true, force: true });
  reply(response, 204, '');
}

/** Path-style `/bucket[/key]`, decoded; undefined for the service root. */
function parse(request: IncomingMessage): Request | undefined {
  const url = new URL(request.url ?? '/', 'http://sandbox');
  const [, bucket = '', ...rest] = url.pathname.split('/');
  if (bucket === '') return undefined;
  try {
    return { bucket: decodeURIComponent(bucket), key: decodeURIComponent(rest.join('/')), query: url.searchParams };
  } catch {
    return undefined; // malformed escapes: s3rver answers those
  }
}

/** As s3rver: anonymous requests pass; a signed one must name its access key. */
function signedByOrAnonymous(request: IncomingMessage, query: URLSearchParams, accessKeyId: string): boolean {
  const credential = /Credential=([^/,\s]+)/.exec(request.headers.authorization ?? '')?.[1]
    ?? /^AWS ([^:]+):/.exec(request.headers.authorization ?? '')?.[1]
    ?? query.get('X-Amz-Credential')?.split('/')[0]
    ?? query.get('AWSAccessKeyId');
  return credential === undefined || credential === null || credential === accessKeyId;
}

async function allUploads(folder: string): Promise<Upload[]> {
  const ids = (await readdir(folder).catch(() => [] as string[])).filter((id) => UPLOAD_ID.test(id));
  const uploads = await Promise.all(ids.map((id) => readUpload(folder, id)));
  return uploads.filter((upload) => upload !== undefined);
}

/** The upload `uploadId` when it exists and is for `key`. */
async function uploadOf(folder: string, uploadId: string, key: string): Promise<Upload | undefined> {
  if (!UPLOAD_ID.test(uploadId)) return undefined;
  const upload = await readUpload(folder, uploadId);
  return upload?.key === key ? upload : undefined;
}

async function readUpload(folder: string, uploadId: string): Promise<Upload | undefined> {
  const keyFile = join(folder, uploadId, 'key');
  try {
    const [key, info] = await Promise.all([readFile(keyFile, 'utf8'), stat(keyFile)]);
    return { key, uploadId, initiated: info.mtime };
  } catch {
    return undefined; // completed or aborted meanwhile
  }
}

/** The parts whose MD5 is written (a part still arriving has none yet), by number. */
async function partsOf(folder: string): Promise<Part[]> {
  const names = await readdir(folder).catch(() => [] as string[]);
  const numbers = names.filter((name) => /^\d+$/.test(name) && names.includes(`${name}.md5`)).map(Number);
  const parts = await Promise.all(
    numbers.map(async (number) => {
      try {
        const [etag, info] = await Promise.all([readFile(join(folder, `${number}.md5`), 'utf8'), stat(join(folder, String(number)))]);
        return { number, etag: etag.trim(), size: info.size, lastModified: info.mtime };
      } catch {
        return undefined;
      }
    }),
  );
  return parts.filter((part) => part !== undefined).sort((a, b) => a.number - b.number);
}

function limitOf(text: string | null): number {
  const value = Number(text ?? MAX_LISTED);
  return Number.isInteger(value) && value >= 0 ? Math.min(value, MAX_LISTED) : MAX_LISTED;
}

/** S3 orders keys by their UTF-8 bytes. */
function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function isFolder(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

function noSuchUpload(response: ServerResponse, uploadId: string): void {
  reply(
    response,
    404,
    errorXml('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId }),
  );
}

function owner(name: 'Initiator' | 'Owner'): string {
  return nest(name, element('ID', OWNER.ID) + element('DisplayName', OWNER.DisplayName));
}

/** `<name>text</name>`, the text escaped. */
function element(name: string, text: string): string {
  return `<${name}>${escapeText(text)}</${name}>`;
}

/** `<name>…</name>` around elements already rendered. */
function nest(name: string, elements: string): string {
  return `<${name}>${elements}</${name}>`;
}

function document(root: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${NAMESPACE}">${body}</${root}>`;
}

function errorXml(code: string, message: string, extra: Record<string, string> = {}): string {
  const fields = Object.entries(extra).map(([name, value]) => element(name, value)).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${element('Code', code)}${element('Message', message)}${fields}</Error>`;
}

function reply(response: ServerResponse, status: number, body: string): void {
  const headers = body === '' ? {} : { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) };
  response.writeHead(status, headers).end(body);
}
