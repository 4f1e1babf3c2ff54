/**
 * The sandbox's Image Builder endpoint (REST-JSON): `PUT /ImportVmImage` makes a base image from a completed
 * sandbox import task, `GET /GetImage?imageBuildVersionArn=…` describes it. Requests are told apart from S3 by
 * their path: Image Builder's are `/OperationName`, with upper-case letters, which S3 bucket names never hold, so
 * an operation the sandbox does not serve (ListImages, …) gets Image Builder's error, not S3's. Errors are
 * AWS-shaped (`x-amzn-ErrorType` header, `{"message"}` body); the request's own checks are diskport's Image
 * Builder rules (src/awscli/imagebuilder.ts), answered as InvalidParameterValueException.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { validateImportVmImage, type ImportVmImageInput } from '../awscli/imagebuilder.js';
import { DiskError } from '../errors.js';
import { labelRequest, pathOf, type Handler } from './http.js';
import { ACCOUNT_ID } from './render.js';
import { SANDBOX_REGION } from './s3.js';
import type { TaskStore } from './tasks.js';

/** `/ImportVmImage`, `/ListImages`, …: one segment, starting with a capital. */
const OPERATION_PATH = /^\/[A-Z][A-Za-z]*$/;
/** An ImportVmImage body is a few hundred bytes; a larger one is refused unread. */
const MAX_BODY_BYTES = 64 * 1024;
const SCOPE = /Credential=[^/\s,]+\/\d{8}\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request/;

export function isImagebuilderRequest(request: IncomingMessage): boolean {
  return OPERATION_PATH.test(pathOf(request));
}

class Fault extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface BaseImage {
  arn: string;
  input: Required<Pick<ImportVmImageInput, 'name' | 'semanticVersion' | 'platform' | 'vmImportTaskId' | 'clientToken'>> & ImportVmImageInput;
  amiId: string;
  region: string;
  createdAt: Date;
}

/** The handler over the sandbox's import tasks; it keeps the images it made. */
export function imagebuilderHandler(store: TaskStore): Handler {
  const images = new Map<string, BaseImage>();
  const tokens = new Map<string, { arn: string; fingerprint: string }>();
  return async (request, response) => {
    const requestId = randomUUID();
    const operation = pathOf(request).slice(1);
    labelRequest(request, `imagebuilder ${operation}`);
    try {
      const region = checkSignature(request);
      const answer =
        operation === 'ImportVmImage' && request.method === 'PUT' ? importVmImage(await readBody(request), region, store, images, tokens)
        : operation === 'GetImage' && request.method === 'GET' ? getImage(new URL(request.url ?? '/', 'http://sandbox').searchParams.get('imageBuildVersionArn'), images)
        : fault('InvalidRequestException', 400, `${request.method} ${operation} is not an Image Builder operation the sandbox serves (it serves ImportVmImage and GetImage)`);
      send(response, 200, { requestId, ...answer }, requestId);
    } catch (error) {
      if (!(error instanceof Fault)) throw error;
      labelRequest(request, `imagebuilder ${operation} ${error.type}`);
      send(response, error.status, { message: error.message }, requestId, error.type);
    }
  };
}

function importVmImage(body: unknown, region: string, store: TaskStore, images: Map<string, BaseImage>, tokens: Map<string, { arn: string; fingerprint: string }>) {
  const input = checkInput(body);
  const fingerprint = JSON.stringify({ ...input, clientToken: undefined });
  const earlier = tokens.get(input.clientToken);
  if (earlier !== undefined) {
    if (earlier.fingerprint !== fingerprint) fault('IdempotentParameterMismatchException', 400, `The client token ${input.clientToken} was already used with different parameters.`);
    return { imageArn: earlier.arn, clientToken: input.clientToken };
  }
  const task = store.tasks.get(input.vmImportTaskId);
  if (task === undefined) fault('ResourceNotFoundException', 404, `The VM import task ${input.vmImportTaskId} does not exist.`);
  if (task.status !== 'completed' || task.imageId === undefined) {
    fault('InvalidRequestException', 400, `The VM import task ${input.vmImportTaskId} is ${task.status}; only a completed import can be used.`);
  }
  const arn = `arn:aws:imagebuilder:${region}:${ACCOUNT_ID}:image/${input.name.toLowerCase().replaceAll(' ', '-')}/${input.semanticVersion}/1`;
  if (images.has(arn)) fault('ResourceAlreadyExistsException', 400, `The image ${input.name} version ${input.semanticVersion} already exists.`);
  images.set(arn, { arn, input, amiId: task.imageId, region, createdAt: new Date() });
  tokens.set(input.clientToken, { arn, fingerprint });
  return { imageArn: arn, clientToken: input.clientToken };
}

function checkInput(body: unknown): BaseImage['input'] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fault('SerializationException', 400, 'The request body must be a JSON object.');
  const input = body as Record<string, unknown>;
  for (const member of ['name', 'semanticVersion', 'platform', 'vmImportTaskId', 'clientToken']) {
    if (typeof input[member] !== 'string') fault('InvalidParameterValueException', 400, `The value supplied for parameter '${member}' is not valid: a string is required.`);
  }
  try {
    validateImportVmImage(input as ImportVmImageInput);
  } catch (error) {
    if (!(error instanceof DiskError)) throw error;
    fault('InvalidParameterValueException', 400, `The value supplied for parameter '${error.field}' is not valid. ${error.message}`);
  }
  return input as unknown as BaseImage['input'];
}

function getImage(arn: string | null, images: Map<string, BaseImage>) {
  if (arn === null) fault('InvalidParameterValueException', 400, "The value supplied for parameter 'imageBuildVersionArn' is not valid: it is required.");
  // An image version ARN (no build number) names its latest build: the sandbox makes build 1 only.
  const image = images.get(arn) ?? images.get(`${arn}/1`);
  if (image === undefined) fault('ResourceNotFoundException', 404, `The image ${arn} does not exist.`);
  const { input } = image;
  return {
    image: {
      arn: image.arn,
      type: 'AMI',
      name: input.name,
      version: `${input.semanticVersion}/1`,
      platform: input.platform,
      ...(input.osVersion === undefined ? {} : { osVersion: input.osVersion }),
      state: { status: 'AVAILABLE' },
      dateCreated: image.createdAt.toISOString(),
      outputResources: { amis: [{ region: image.region, image: image.amiId, name: input.name, ...(input.description === undefined ? {} : { description: input.description }), accountId: ACCOUNT_ID }] },
      ...(input.tags === undefined ? {} : { tags: input.tags }),
      buildType: 'IMPORT',
      imageSource: 'IMPORTED',
    },
  };
}

/** A SigV4 Authorization header scoped to imagebuilder (not verified: any dummy credentials work); returns its region. */
function checkSignature(request: IncomingMessage): string {
  const scope = SCOPE.exec(request.headers.authorization ?? '');
  if (scope === null) fault('IncompleteSignatureException', 403, 'The request must be signed with AWS Signature Version 4.');
  if (scope[2] !== 'imagebuilder') fault('InvalidSignatureException', 403, `Credential should be scoped to correct service: 'imagebuilder', not '${scope[2]}'.`);
  return scope[1] ?? SANDBOX_REGION;
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) fault('InvalidRequestException', 400, `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return fault('SerializationException', 400, 'The request body is not valid JSON.');
  }
}

function fault(type: string, status: number, message: string): never {
  throw new Fault(type, status, message);
}

function send(response: ServerResponse, status: number, body: object, requestId: string, errorType?: string): void {
  response
    .writeHead(status, {
      'content-type': 'application/json',
      'x-amzn-requestid': requestId,
      ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
    })
    .end(JSON.stringify(body));
}
