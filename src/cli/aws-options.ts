/**
 * What the commands that call AWS (upload, verify, import) share on the command line: the client flags, and Ctrl-C /
 * SIGTERM turned into an AbortSignal, so an upload stays resumable and an import keeps running on AWS's side.
 */
import type { AwsClientOptions } from '../aws/config.js';

export interface AwsCommandOptions {
  json?: boolean;
  profile?: string;
  region?: string;
  endpointUrl?: string;
}

/** The flags as client options. */
export function awsOptions(options: AwsCommandOptions): Pick<AwsClientOptions, 'profile' | 'region' | 'endpointUrl'> {
  return { profile: options.profile, region: options.region, endpointUrl: options.endpointUrl };
}

/** Runs `work` with a signal that SIGINT or SIGTERM aborts; the handlers go again when it ends. */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await work(interrupt.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
