/**
 * The EC2 client for ImportImage and its companions: the SDK's credential chain (or explicit credentials),
 * --profile, --region, and --endpoint-url or AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL as the SDK reads them
 * (src/aws/config.ts). The SDK is loaded here only, on first use, so commands that never call EC2 never load it.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { baseClientConfig, quietSdkWarning, type AwsClientOptions } from '../aws/config.js';

export type Ec2ClientOptions = AwsClientOptions;

export async function createEc2Client(options: Ec2ClientOptions = {}): Promise<EC2Client> {
  const config = baseClientConfig('EC2', options);
  quietSdkWarning();
  const { EC2Client } = await import('@aws-sdk/client-ec2');
  return new EC2Client(config);
}

/** The SDK module, for its Command classes (loaded once; later imports are cached by Node). */
export function ec2Sdk(): Promise<typeof import('@aws-sdk/client-ec2')> {
  quietSdkWarning();
  return import('@aws-sdk/client-ec2');
}
