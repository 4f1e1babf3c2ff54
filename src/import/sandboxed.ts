/**
 * `--sandbox`: the import pipeline against an in-process VM Import sandbox (src/sandbox/) instead of AWS. The
 * sandbox is started for the one run and stopped after it, and both clients are pointed at it explicitly (no
 * environment variables are changed), with its dummy credentials and its bucket as the default.
 */
import type { Sandbox, SandboxOptions } from '../sandbox/index.js';
import type { ImportOptions } from './import.js';

export type SandboxedSettings = Required<Pick<ImportOptions, 'endpointUrl' | 's3EndpointUrl' | 'imageBuilderEndpointUrl' | 'credentials' | 'region' | 'bucket'>>;

export async function withSandbox<T>(work: (settings: SandboxedSettings, sandbox: Sandbox) => Promise<T>, options: SandboxOptions = {}): Promise<T> {
  const { startSandbox, SANDBOX_CREDENTIALS, SANDBOX_REGION } = await import('../sandbox/index.js');
  const sandbox = await startSandbox(options);
  try {
    return await work(
      {
        endpointUrl: sandbox.ec2Endpoint,
        s3EndpointUrl: sandbox.s3Endpoint,
        imageBuilderEndpointUrl: sandbox.env.AWS_ENDPOINT_URL_IMAGEBUILDER!,
        credentials: { ...SANDBOX_CREDENTIALS },
        region: SANDBOX_REGION,
        bucket: sandbox.bucket,
      },
      sandbox,
    );
  } finally {
    await sandbox.close();
  }
}
