/**
 * The sandbox's S3: s3rver, in-process, on loopback, with the multipart listing and abort calls it lacks added
 * (s3-uploads.ts). Path-style only (the endpoint is an IP address), with the default bucket created at start. s3rver checks that the access key is its own (`S3RVER`) but not the SigV4
 * signature, so any client given SANDBOX_CREDENTIALS gets in.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { listen, type Handler, type RequestLog } from './http.js';
import { createUploadsHandler } from './s3-uploads.js';

/** The one key pair s3rver knows; the EC2 endpoint accepts any. */
export const SANDBOX_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const SANDBOX_REGION = 'us-east-1';
export const DEFAULT_BUCKET = 'diskport-sandbox';

export interface SandboxS3Options {
  /** 0 (the default): any free port. */
  port?: number;
  host?: '127.0.0.1';
  /** Where objects are stored; default a fresh temporary folder, removed on close. */
  directory?: string;
  /** Buckets that exist at start; default [DEFAULT_BUCKET]. */
  buckets?: string[];
  log?: RequestLog;
}

export interface SandboxS3 {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  close(): Promise<void>;
}

/** The S3 request handler over a store folder, for a server of the caller's (the sandbox shares one port). */
export interface S3Service {
  handle: Handler;
  /** Removes the store folder when the service made it. */
  dispose(): Promise<void>;
}

export async function createS3Service(options: Pick<SandboxS3Options, 'directory' | 'buckets'> = {}): Promise<S3Service> {
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'diskport-sandbox-s3-')));
  const s3rver = new S3rver({
    directory,
    silent: true, // its logger writes to stdout, which carries the sandbox's environment lines
    vhostBuckets: false,
    configureBuckets: (options.buckets ?? [DEFAULT_BUCKET]).map((name) => ({ name })),
  });
  await s3rver.configureBuckets();
  const handle = s3rver.callback();
  const uploads = createUploadsHandler(directory, SANDBOX_CREDENTIALS.accessKeyId);
  return {
    handle: async (request, response) => {
      if (!(await uploads(request, response))) handle(request, response);
    },
    dispose: async () => {
      if (ownDirectory) await rm(directory, { recursive: true, force: true });
    },
  };
}

export async function startSandboxS3(options: SandboxS3Options = {}): Promise<SandboxS3> {
  const service = await createS3Service(options);
  try {
    const listening = await listen(service.handle, options.host ?? '127.0.0.1', options.port ?? 0, options.log);
    return {
      endpoint: listening.endpoint,
      close: async () => {
        await listening.close();
        await service.dispose();
      },
    };
  } catch (error) {
    await service.dispose();
    throw error;
  }
}
