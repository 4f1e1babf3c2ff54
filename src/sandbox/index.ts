/**
 * The VM Import sandbox: S3 (s3rver) and an EC2 endpoint that behaves like VM Import, in one process on one
 * loopback port. One port because S3 and EC2 requests never look alike (EC2 posts to `/`, S3 always names a
 * bucket in the path, or lists buckets with a bare GET `/`), so a user forwards, and a script passes, one
 * number; AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_EC2 are then the same URL.
 */
import { DiskError } from '../errors.js';
import type { ActionContext } from './actions.js';
import { handleEc2, isEc2Request } from './ec2.js';
import { imagebuilderHandler, isImagebuilderRequest } from './imagebuilder.js';
import { sandboxS3Client } from './fetch.js';
import { labelRequest, listen, pathOf, type Handler, type RequestLog } from './http.js';
import { createS3Service, DEFAULT_BUCKET, SANDBOX_CREDENTIALS, SANDBOX_REGION } from './s3.js';
import { TaskStore } from './tasks.js';

export { startSandboxS3, DEFAULT_BUCKET, SANDBOX_CREDENTIALS, SANDBOX_REGION, type SandboxS3, type SandboxS3Options } from './s3.js';
export { OUTCOMES, type Outcome } from './outcomes.js';

export interface SandboxOptions {
  /** 0 (the default): any free port. */
  port?: number;
  host?: '127.0.0.1';
  /** Where S3 objects are stored; default a temporary folder, removed on close. */
  directory?: string;
  /** Import speed-up: every task step lasts 1/speed of its default (an import takes about 4 s at speed 1). */
  speed?: number;
  /** Service roles that exist in the sandbox's account; default ['vmimport']. */
  roles?: string[];
  /** Buckets that exist at start; default ['diskport-sandbox']. */
  buckets?: string[];
  /** One line per request (e.g. the CLI's stderr). */
  log?: RequestLog;
}

export interface Sandbox {
  s3Endpoint: string;
  ec2Endpoint: string;
  /** AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_IMAGEBUILDER, dummy credentials, AWS_REGION and AWS_DEFAULT_REGION. */
  env: Record<string, string>;
  bucket: string;
  close(): Promise<void>;
}

/** The environment variable that sets the default speed (tests set it high). */
export const SPEED_VARIABLE = 'DISKPORT_SANDBOX_SPEED';

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const settings = settingsOf(options);
  const s3Service = await createS3Service(options);
  // The tasks read S3 through the port being opened here, so the EC2 side exists once it is open.
  let context: ActionContext | undefined;
  let imagebuilder: Handler | undefined; // Image Builder paths (/ImportVmImage, /GetImage) never name an S3 bucket
  let listening;
  try {
    listening = await listen(
      (request, response) => {
        if (isImagebuilderRequest(request)) return imagebuilder === undefined ? void response.writeHead(503).end() : imagebuilder(request, response);
        if (!isEc2Request(request)) {
          labelRequest(request, `s3 ${request.method} ${pathOf(request)}`);
          return s3Service.handle(request, response);
        }
        if (context === undefined) return void response.writeHead(503).end();
        return handleEc2(request, response, context);
      },
      settings.host,
      settings.port,
      options.log,
    );
  } catch (error) {
    await s3Service.dispose();
    throw error;
  }
  const endpoint = listening.endpoint;
  const s3 = await sandboxS3Client(endpoint);
  const store = new TaskStore({ s3, speed: settings.speed });
  context = { store, roles: new Set(settings.roles), tokens: new Map() };
  imagebuilder = imagebuilderHandler(store);
  return {
    s3Endpoint: endpoint,
    ec2Endpoint: endpoint,
    env: environmentOf(endpoint),
    bucket: (options.buckets ?? [DEFAULT_BUCKET])[0] ?? DEFAULT_BUCKET,
    close: async () => {
      await store.close();
      s3.destroy();
      await listening.close();
      await s3Service.dispose();
    },
  };
}

function settingsOf(options: SandboxOptions) {
  const speedText = process.env[SPEED_VARIABLE];
  const speed = options.speed ?? (speedText === undefined ? 1 : Number(speedText));
  if (!Number.isFinite(speed) || speed <= 0) {
    throw new DiskError('USAGE', `sandbox speed must be a positive number, not ${options.speed ?? `${SPEED_VARIABLE}=${speedText}`}`);
  }
  const roles = options.roles ?? ['vmimport'];
  return { host: options.host ?? '127.0.0.1', port: options.port ?? 0, speed, roles };
}

function environmentOf(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ENDPOINT_URL_EC2: endpoint,
    AWS_ENDPOINT_URL_IMAGEBUILDER: endpoint,
    AWS_ACCESS_KEY_ID: SANDBOX_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: SANDBOX_CREDENTIALS.secretAccessKey,
    AWS_REGION: SANDBOX_REGION,
    AWS_DEFAULT_REGION: SANDBOX_REGION,
  };
}
