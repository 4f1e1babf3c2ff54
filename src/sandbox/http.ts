/** The loopback HTTP plumbing the sandbox's services share: listening, one log line per request, closing. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DiskError } from '../errors.js';

export type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

/** Receives one line per request (its label, status, time); never credentials or query strings. */
export type RequestLog = (line: string) => void;

const labels = new WeakMap<IncomingMessage, string>();

/** Names a request in the log (`ec2 ImportImage`); unnamed ones are logged as method and path. */
export function labelRequest(request: IncomingMessage, label: string): void {
  labels.set(request, label);
}

export interface Listening {
  server: Server;
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1:port (port 0: any free one). Rejects with USAGE for another host, a bad or taken port. */
export async function listen(handler: Handler, host: string, port: number, log?: RequestLog): Promise<Listening> {
  if (host !== '127.0.0.1') throw new DiskError('USAGE', `the sandbox listens on 127.0.0.1 only, not ${host}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DiskError('USAGE', `port must be an integer from 0 to 65535, not ${port}`);
  const server = createServer((request, response) => {
    const started = performance.now();
    if (log !== undefined) {
      response.on('finish', () => {
        const label = labels.get(request) ?? `${request.method} ${pathOf(request)}`;
        log(`${label} ${response.statusCode} ${Math.round(performance.now() - started)}ms`);
      });
    }
    Promise.resolve(handler(request, response)).catch((error: unknown) => failRequest(response, error));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new DiskError('USAGE', `cannot listen on ${host}:${port}: ${error.code ?? error.message}; pick another --port`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return { server, endpoint: `http://${host}:${address.port}`, close: () => closeServer(server) };
}

/** Stops accepting, drops idle keep-alive connections (SDK clients keep them), waits for the rest. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** The path of a request without its query string (which may hold a presigned URL's signature). */
export function pathOf(request: IncomingMessage): string {
  return (request.url ?? '/').split('?', 1)[0]!;
}

/** A handler that threw: a bare 500, as the services' own error rendering did not run. */
function failRequest(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy(error instanceof Error ? error : undefined);
    return;
  }
  response.writeHead(500, { 'content-type': 'text/plain' }).end('internal error in the diskport sandbox\n');
}
