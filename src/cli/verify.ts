import { assertMatch, verify, type VerifyResult } from '../upload/verify.js';
import { awsOptions, type AwsCommandOptions } from './aws-options.js';
import { table } from './text.js';

export type VerifyCommandOptions = AwsCommandOptions;

export async function runVerify(url: string, file: string | undefined, options: VerifyCommandOptions): Promise<void> {
  const result = await verify(url, file, awsOptions(options));
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : humanText(result));
  assertMatch(result);
}

function humanText(result: VerifyResult): string {
  const rows: [string, string][] = [
    ['object', `${result.url} (${result.size} bytes)`],
    ['xxh64', result.xxh64],
    ['metadata', result.metadataXxh64 ?? 'none'],
  ];
  if (result.file !== null) rows.push(['file', `${result.file} (${result.fileSize} bytes), xxh64 ${result.fileXxh64}`]);
  rows.push(['verdict', result.match ? 'identical' : 'DIFFERENT']);
  return table(rows);
}
