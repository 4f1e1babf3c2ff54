/**
 * The sandbox's EC2 endpoint: the EC2 Query protocol (form-encoded POST, or GET with a query string; Action and
 * Version 2016-11-15), XML answers. A SigV4 signature must be present and well formed, scoped to the `ec2`
 * service; it is not verified, so any dummy credentials work.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ACTIONS, type ActionContext } from './actions.js';
import { Ec2Fault } from './faults.js';
import { labelRequest } from './http.js';
import { ACTION_SHAPES, parseInput, type ActionName } from './query.js';
import { EC2_API_VERSION, errorXml, responseXml } from './xml.js';

/** Far above any real request (a 21-disk import with tags is a few KiB); a larger body is refused unread. */
const MAX_BODY_BYTES = 256 * 1024;
const SIGV4_HEADER = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=[a-z0-9;-]+,\s*Signature=[0-9a-f]{64}$/;
const SIGV4_QUERY_FIELDS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Security-Token'];

/** Whether a request on the shared port is for EC2: S3 requests always name a bucket in the path, or are GET /. */
export function isEc2Request(request: IncomingMessage): boolean {
  const url = new URL(request.url ?? '/', 'http://sandbox');
  return url.pathname === '/' && (request.method === 'POST' || url.searchParams.has('Action'));
}

export async function handleEc2(request: IncomingMessage, response: ServerResponse, context: ActionContext): Promise<void> {
  const requestId = randomUUID();
  let action = '?';
  try {
    const fields = await readFields(request);
    action = fields.get('Action') ?? '?';
    labelRequest(request, `ec2 ${action}`);
    const name = checkEnvelope(request, fields);
    const result = ACTIONS[name](parseInput(name, fields), context);
    send(response, 200, responseXml(name, requestId, result), requestId);
  } catch (error) {
    if (!(error instanceof Ec2Fault)) throw error;
    labelRequest(request, `ec2 ${action} ${error.code}`);
    send(response, error.status, errorXml(error.code, error.message, requestId), requestId);
  }
}

/** The form body and the query string's fields together (EC2 takes either). */
async function readFields(request: IncomingMessage): Promise<Map<string, string>> {
  const url = new URL(request.url ?? '/', 'http://sandbox');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Ec2Fault('InvalidRequest', `The request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const body = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  return new Map([...url.searchParams, ...body]);
}

/** Authentication, Action and Version; removes them from `fields`, leaving the action's own parameters. */
function checkEnvelope(request: IncomingMessage, fields: Map<string, string>): ActionName {
  checkSignature(request, fields);
  for (const name of SIGV4_QUERY_FIELDS) fields.delete(name);
  const action = fields.get('Action');
  const version = fields.get('Version');
  fields.delete('Action');
  fields.delete('Version');
  if (action === undefined) throw new Ec2Fault('MissingAction', 'The request must contain the parameter Action');
  if (version === undefined) throw new Ec2Fault('MissingParameter', 'The request must contain the parameter Version');
  if (version !== EC2_API_VERSION) throw new Ec2Fault('NoSuchVersion', `The requested version (${version}) of service AmazonEC2 does not exist`);
  if (!Object.hasOwn(ACTION_SHAPES, action)) {
    throw new Ec2Fault('InvalidAction', `The action ${action} is not valid for this web service (the sandbox serves ${Object.keys(ACTION_SHAPES).join(', ')}).`);
  }
  return action as ActionName;
}

/** A SigV4 Authorization header, or presigned query fields, naming a credential scoped to ec2. */
function checkSignature(request: IncomingMessage, fields: Map<string, string>): void {
  const header = request.headers.authorization;
  const credential = header !== undefined ? SIGV4_HEADER.exec(header)?.slice(1) : presignedCredential(fields);
  if (header === undefined && credential === undefined && !fields.has('X-Amz-Credential')) {
    throw new Ec2Fault('MissingAuthenticationToken', 'Request is missing Authentication Token');
  }
  if (credential === undefined) throw new Ec2Fault('IncompleteSignature', 'The request signature does not conform to AWS standards (AWS4-HMAC-SHA256 with Credential, SignedHeaders, Signature)');
  const service = credential[3];
  if (service !== 'ec2') throw new Ec2Fault('AuthFailure', `Credential should be scoped to correct service: 'ec2', not '${service}'`);
}

function presignedCredential(fields: Map<string, string>): string[] | undefined {
  if (fields.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || !/^[0-9a-f]{64}$/.test(fields.get('X-Amz-Signature') ?? '')) return undefined;
  return /^([^/\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request$/.exec(fields.get('X-Amz-Credential') ?? '')?.slice(1);
}

function send(response: ServerResponse, status: number, xml: string, requestId: string): void {
  response.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId }).end(xml);
}
