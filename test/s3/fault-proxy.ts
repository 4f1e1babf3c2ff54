/**
 * A loopback HTTP proxy in front of an S3 server that misbehaves on purpose: per request, a rule decides to
 * pass it on, answer 500 or 503 SlowDown, drop the connection, or hold it unanswered. It forwards the
 * request untouched (Host header included), so SigV4 signatures stay valid, and logs every UploadPart.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** The partNumber of an UploadPart, else undefined. */
  partNumber: number | undefined;
  /** 1 for the first request for this part number, 2 for its first retry... */
  attempt: number;
}

export type Fault = 'pass' | 'hold' | 'drop' | { status: 500 | 503; code: string };

export interface PartLogEntry {
  partNumber: number;
  attempt: number;
  fault: 'pass' | 'hold' | 'drop' | number;
  /** The x-amz-checksum-crc32 header the client sent. */
  crc32: string | undefined;
}

export interface FaultProxy {
  endpoint: string;
  /** Every UploadPart request seen, in arrival order. */
  parts: PartLogEntry[];
  rule: (request: ProxiedRequest) => Fault;
  /** Sets the rule, and forgets the log and the attempt counts. */
  reset(rule: (request: ProxiedRequest) => Fault): void;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string, rule: (request: ProxiedRequest) => Fault = () => 'pass'): Promise<FaultProxy> {
  const target = new URL(upstream);
  const attempts = new Map<number, number>();
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = {
    endpoint: '',
    parts: [],
    rule,
    reset(next) {
      proxy.rule = next;
      proxy.parts.length = 0;
      attempts.clear();
    },
    close: async () => undefined,
  };

  const server = createServer((request, response) => {
    const partText = new URL(request.url ?? '/', 'http://x').searchParams.get('partNumber');
    const partNumber = request.method === 'PUT' && partText !== null ? Number(partText) : undefined;
    const attempt = partNumber === undefined ? 1 : (attempts.get(partNumber) ?? 0) + 1;
    if (partNumber !== undefined) attempts.set(partNumber, attempt);
    const fault = proxy.rule({ method: request.method ?? 'GET', partNumber, attempt });
    if (partNumber !== undefined) {
      const crc32 = request.headers['x-amz-checksum-crc32'] as string | undefined;
      proxy.parts.push({ partNumber, attempt, fault: typeof fault === 'object' ? fault.status : fault, crc32 });
    }
    if (fault === 'pass') forward(request, response, target);
    else if (fault === 'hold') request.resume();
    else if (fault === 'drop') request.once('data', () => request.socket.destroy());
    else answerError(request, response, fault);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  proxy.endpoint = `http://127.0.0.1:${port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return proxy;
}

function forward(request: IncomingMessage, response: ServerResponse, target: URL): void {
  // Expect is never signed; without it the upstream answers once the whole body is there.
  const { expect: _expect, ...headers } = request.headers;
  const upstream = httpRequest(
    { host: target.hostname, port: target.port, method: request.method, path: request.url, headers },
    (reply) => {
      response.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(response);
    },
  );
  upstream.on('error', () => response.destroy());
  request.pipe(upstream);
}

/** Reads the body first (as a server does before judging it), then answers with an S3 error document. */
function answerError(request: IncomingMessage, response: ServerResponse, fault: { status: number; code: string }): void {
  request.resume();
  request.once('end', () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message></Error>`;
    response.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
}
