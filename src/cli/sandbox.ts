/**
 * `diskport sandbox`: serves the VM Import sandbox on loopback until SIGINT or SIGTERM. As soon as it is ready,
 * stdout gets the environment to use it (shell `export` lines, or one JSON object with --json), for a user to
 * paste or a script to read; stderr gets one line per request.
 */
import { once } from 'node:events';
import { DiskError } from '../errors.js';
import type { CommandOptions } from './main.js';

export interface SandboxCommandOptions extends CommandOptions {
  port?: string;
  dir?: string;
  speed?: string;
}

export async function runSandbox(options: SandboxCommandOptions): Promise<number> {
  const { startSandbox } = await import('../sandbox/index.js');
  const sandbox = await startSandbox({
    port: numberOption('--port', options.port ?? '0'),
    ...(options.dir === undefined ? {} : { directory: options.dir }),
    ...(options.speed === undefined ? {} : { speed: numberOption('--speed', options.speed) }),
    log: (line) => process.stderr.write(`sandbox: ${line}\n`),
  });
  const { bucket, env, s3Endpoint, ec2Endpoint } = sandbox;
  process.stdout.write(
    options.json
      ? `${JSON.stringify({ s3Endpoint, ec2Endpoint, bucket, env })}\n`
      : Object.entries(env).map(([name, value]) => `export ${name}=${value}\n`).join(''),
  );
  process.stderr.write(`sandbox: serving S3 and EC2 on ${s3Endpoint} (bucket ${bucket}); stop with Ctrl-C\n`);
  const signal = await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  process.stderr.write(`sandbox: ${String(signal[0] ?? 'signal')}: stopping\n`);
  await sandbox.close();
  return 0;
}

function numberOption(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new DiskError('USAGE', `${name} must be a number, not ${text}`);
  return value;
}
