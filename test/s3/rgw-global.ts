/**
 * Vitest global setup for Ceph RGW: names a folder for this run's cluster and, at the end of the run, stops
 * the cluster if a test started it (rgw.ts starts it on first use, once per run, whichever file asks first).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { rgwClusterDir } from './rgw-dir.js';

declare module 'vitest' {
  export interface ProvidedContext {
    rgwDir: string;
  }
}

const SCRIPT = join(import.meta.dirname, 'rgw.sh');

export default function setup(project: TestProject): () => void {
  const dir = join(tmpdir(), `diskport-rgw-${process.pid}`);
  project.provide('rgwDir', dir);
  return () => {
    if (!existsSync(dir)) return;
    execFileSync('bash', [SCRIPT, 'stop', rgwClusterDir(dir)], { stdio: 'inherit' });
    rmSync(dir, { recursive: true, force: true });
  };
}
