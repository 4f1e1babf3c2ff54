/**
 * Ceph RGW for the tests that need the full multipart API (ListParts, ListMultipartUploads, Abort). Started on
 * first use, once per test run, by whichever test file asks first (the others wait for it); rgw-global.ts
 * stops it when the run ends. Missing Ceph packages fail the test with the install command: CI installs them.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { rgwClusterDir } from './rgw-dir.js';

export interface S3Endpoint {
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
}

const SCRIPT = join(import.meta.dirname, 'rgw.sh');
const START_TIMEOUT_MS = 110_000;

export async function useRgw(): Promise<S3Endpoint> {
  if (!existsSync('/usr/bin/radosgw')) {
    throw new Error('Ceph RGW is not installed: apt-get install -y radosgw ceph-mon ceph-osd ceph-common (.ci/run does this)');
  }
  const dir = inject('rgwDir');
  const ready = join(dir, 'ready.json');
  const failed = join(dir, 'failed.txt');
  if (claim(dir)) {
    try {
      const [port, monPort] = [await freePort(), await freePort()];
      const { stdout } = await promisify(execFile)('bash', [SCRIPT, 'start', rgwClusterDir(dir), String(port), String(monPort)], {
        timeout: START_TIMEOUT_MS,
      });
      writeFileSync(ready, stdout);
    } catch (error) {
      writeFileSync(failed, String((error as Error).message));
      throw error;
    }
  }
  for (const started = Date.now(); Date.now() - started < START_TIMEOUT_MS; await sleep(200)) {
    if (existsSync(failed)) throw new Error(`Ceph RGW did not start: ${readFileSync(failed, 'utf8')}`);
    if (existsSync(ready)) {
      const { endpoint, accessKeyId, secretAccessKey } = JSON.parse(readFileSync(ready, 'utf8'));
      return { endpoint, credentials: { accessKeyId, secretAccessKey }, region: 'us-east-1' };
    }
  }
  throw new Error('Ceph RGW did not start in time');
}

/** True for the one caller that creates the run's folder (mkdir is atomic). */
function claim(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
