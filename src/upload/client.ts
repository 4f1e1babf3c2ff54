/**
 * The S3 client every upload, verify and S3 read uses, configured so that the same requests work on AWS S3,
 * on Ceph RGW 16 and on s3rver. What was found on those servers (tests in test/upload-multipart.test.ts):
 *
 * - The SDK's default checksum mode (WHEN_SUPPORTED) sends a stream body as `aws-chunked` with a trailing
 *   checksum; RGW 16 answers that with 411 MissingContentLength. With WHEN_REQUIRED the SDK adds checksums only
 *   where an operation demands one, and the uploader sets each part's CRC32 itself, as a plain header
 *   (`x-amz-checksum-crc32`, which the SDK then leaves alone). AWS S3 verifies that header and rejects a part
 *   whose bytes do not match; RGW 16 and s3rver accept and ignore it, and CompleteMultipartUpload may list the
 *   part checksums on all three. Responses are not checksum-validated (WHEN_REQUIRED): ranged GETs carry no
 *   whole-object checksum to check, and `diskport verify` compares content hashes itself.
 * - CRC32 rather than CRC32C: Node has CRC32 built in (zlib.crc32, ~2.7 GiB/s here) while a CRC32C in
 *   JavaScript runs at ~0.4 GiB/s, which would make the checksum the uploader's biggest CPU cost.
 * - Part bodies are signed as UNSIGNED-PAYLOAD: SigV4 would otherwise hash every part with SHA-256 (~0.65 CPU
 *   seconds per GiB) for an integrity check the CRC32 header already gives where the service verifies it.
 * - A custom endpoint (`--endpoint-url`, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) uses path-style addressing:
 *   loopback servers have no per-bucket host names. Its region defaults to us-east-1.
 */
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { baseClientConfig, quietSdkWarning, type AwsClientOptions } from '../aws/config.js';

/** endpointUrl: a custom endpoint such as http://127.0.0.1:7480; path-style addressing is used with it. */
export type S3ClientOptions = AwsClientOptions;

/** Loads the SDK (only here, so commands that do not talk to S3 never load it) and makes a client. */
export async function createS3Client(options: S3ClientOptions = {}): Promise<S3Client> {
  quietSdkWarning();
  const { S3Client } = await import('@aws-sdk/client-s3');
  const client = new S3Client(clientConfig(options));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (context.commandName === 'UploadPartCommand' && request.headers !== undefined) {
        request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    { step: 'build', name: 'diskportUnsignedPartPayload' },
  );
  return client;
}

export function clientConfig(options: S3ClientOptions): S3ClientConfig {
  const base = baseClientConfig('S3', options);
  return {
    ...base,
    ...(base.endpoint === undefined ? {} : { forcePathStyle: true }),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}
