/**
 * What every AWS client diskport makes shares, whatever the service: the region, the profile, explicit
 * credentials, the retry budget, and the endpoint, taken from an option or from the service-specific variable
 * the SDKs and the CLI read (AWS_ENDPOINT_URL_S3, _EC2, _IMAGEBUILDER), then the global AWS_ENDPOINT_URL.
 * Each service's client module adds only what is its own (S3: path-style addressing and checksums).
 */
import { DiskError } from '../errors.js';

export interface AwsClientOptions {
  region?: string;
  /** A profile of the shared config and credentials files (as --profile / AWS_PROFILE). */
  profile?: string;
  /** A custom endpoint such as http://127.0.0.1:4566 (a sandbox, a private endpoint). */
  endpointUrl?: string;
  /** Attempts per request, retries included (throttling, 5xx, dropped connections); default 5. */
  maxAttempts?: number;
  /** Explicit credentials, for library callers; otherwise the SDK's standard chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The services diskport talks to, as their endpoint variables name them. */
export type AwsService = 'S3' | 'EC2' | 'IMAGEBUILDER';

export interface BaseClientConfig {
  region?: string;
  profile?: string;
  endpoint?: string;
  credentials?: AwsClientOptions['credentials'];
  maxAttempts: number;
}

const DEFAULT_MAX_ATTEMPTS = 5;

/**
 * Called before an SDK client module is loaded. The SDK warns on every Node 20 process that future releases
 * will need Node 22; that note is for us, not for the people running diskport, and would land in the middle of
 * the CLI's output.
 */
export function quietSdkWarning(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** The endpoint for `service`: the option, else its own variable, else AWS_ENDPOINT_URL; checked. */
export function endpointFor(service: AwsService, options: AwsClientOptions): string | undefined {
  const endpoint = options.endpointUrl ?? process.env[`AWS_ENDPOINT_URL_${service}`] ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined) checkEndpoint(endpoint);
  return endpoint;
}

export function baseClientConfig(service: AwsService, options: AwsClientOptions): BaseClientConfig {
  const endpoint = endpointFor(service, options);
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 20) {
    throw new DiskError('USAGE', `max attempts must be a whole number from 1 to 20, not ${JSON.stringify(options.maxAttempts)}`);
  }
  // AWS_DEFAULT_REGION is the AWS CLI's name, which the JavaScript SDK does not read. A custom endpoint with no
  // region anywhere gets us-east-1: loopback servers ignore it, and the signature needs one.
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (endpoint === undefined ? undefined : 'us-east-1');
  return {
    ...(region === undefined ? {} : { region }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    maxAttempts,
  };
}

function checkEndpoint(endpoint: string): void {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new DiskError('USAGE', `the endpoint URL must be http(s)://host[:port], not ${JSON.stringify(endpoint)}`);
  }
}
