/**
 * A loopback endpoint that records what clients send: the EC2 Query form (ImportImage) and the Image Builder JSON
 * body (ImportVmImage), answering each with a valid canned response (DryRun gets DryRunOperation, as EC2 answers),
 * so the real aws CLI and diskport can be compared parameter by parameter.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  /** `ec2` form fields without Action and Version, or `imagebuilder` JSON members. */
  service: 'ec2' | 'imagebuilder';
  params: Record<string, unknown>;
}

export interface Recorder {
  endpoint: string;
  requests: Recorded[];
  close(): Promise<void>;
}

export const IMPORT_IMAGE_XML = `<?xml version="1.0" encoding="UTF-8"?>
<ImportImageResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>5d6f8a8e-0000-4000-8000-000000000001</requestId>
  <architecture>x86_64</architecture>
  <description>a disk</description>
  <encrypted>true</encrypted>
  <importTaskId>import-ami-0123456789abcdef0</importTaskId>
  <kmsKeyId>arn:aws:kms:us-east-1:123456789012:key/abcd</kmsKeyId>
  <licenseType>BYOL</licenseType>
  <platform>Linux</platform>
  <progress>2</progress>
  <snapshotDetailSet>
    <item><diskImageSize>0.0</diskImageSize><format>VMDK</format><userBucket><s3Bucket>bucket</s3Bucket><s3Key>disks/a.vmdk</s3Key></userBucket></item>
    <item><description>data</description><diskImageSize>1.5</diskImageSize><format>RAW</format><url>s3://bucket/b.raw</url></item>
  </snapshotDetailSet>
  <status>active</status>
  <statusMessage>pending</statusMessage>
  <licenseSpecifications><item><licenseConfigurationArn>arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1</licenseConfigurationArn></item></licenseSpecifications>
  <tagSet><item><key>Name</key><value>web</value></item></tagSet>
  <usageOperation>RunInstances</usageOperation>
</ImportImageResponse>`;

const DRY_RUN_XML = `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>DryRunOperation</Code><Message>Request would have succeeded, but DryRun flag is set.</Message></Error></Errors><RequestID>5d6f8a8e-0000-4000-8000-000000000002</RequestID></Response>`;

export async function startRecorder(): Promise<Recorder> {
  const requests: Recorded[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (request.url === '/ImportVmImage') {
        const params = JSON.parse(body) as Record<string, unknown>;
        requests.push({ service: 'imagebuilder', params });
        const answer = { requestId: 'req-1', imageArn: `arn:aws:imagebuilder:us-east-1:123456789012:image/${String(params.name).toLowerCase()}/${String(params.semanticVersion)}/1`, clientToken: params.clientToken };
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
        return;
      }
      const params: Record<string, unknown> = Object.fromEntries(new URLSearchParams(body));
      delete params.Action;
      delete params.Version;
      requests.push({ service: 'ec2', params });
      if (params.DryRun === 'true') response.writeHead(412, { 'content-type': 'text/xml' }).end(DRY_RUN_XML);
      else response.writeHead(200, { 'content-type': 'text/xml' }).end(IMPORT_IMAGE_XML);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Form fields compared as values: timestamps as instants, doubles as numbers (v1 sends 10.0, the SDK 10). */
export function normalized(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(params).map(([key, value]) => {
      if (/\.Upload(Start|End)$/.test(key)) return [key, Date.parse(String(value))];
      if (/\.UploadSize$/.test(key)) return [key, Number(value)];
      return [key, value];
    }),
  );
}
