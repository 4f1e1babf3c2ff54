/**
 * Runs a command the way the CLI tests need it: without blocking this process (which may host the server the
 * command talks to), with a HOME of its own and no AWS configuration or credentials from the user's machine, only
 * PATH and the variables the test gives.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

export async function runIsolated(command: string, args: string[], home: string, env: Record<string, string | undefined> = {}): Promise<Ran> {
  const child = spawn(command, args, {
    env: {
      PATH: process.env.PATH,
      HOME: home,
      XDG_CACHE_HOME: join(home, 'cache'),
      AWS_CONFIG_FILE: join(home, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stdout, stderr };
}
