import { DiskError } from '../errors.js';
import { uploadConverted, type UploadFormat } from '../upload/convert-upload.js';
import { parseByteSize } from '../upload/part-size.js';
import { awsOptions, interruptible, type AwsCommandOptions } from './aws-options.js';
import { progressReporter } from './progress.js';
import { upload, type UploadOptions, type UploadResult } from '../upload/upload.js';
import { sizeText, table } from './text.js';

export interface UploadCommandOptions extends AwsCommandOptions {
  concurrency?: string;
  partSize?: string;
  resume?: boolean;
  state?: string;
  as?: UploadFormat;
}

export async function runUpload(file: string, url: string, options: UploadCommandOptions): Promise<void> {
  const reporter = await progressReporter({ json: options.json });
  await interruptible(async (signal) => {
    const settings: UploadOptions = {
      ...uploadOptions(options),
      signal,
      onProgress: (progress) => reporter?.update(progress),
    };
    const result = options.as === undefined ? await upload(file, url, settings) : await uploadConverted(file, url, { ...settings, as: options.as });
    reporter?.stop();
    process.stdout.write(options.json ? `${JSON.stringify({ event: 'result', ...result })}\n` : summary(result));
  }).finally(() => reporter?.stop());
}

function uploadOptions(options: UploadCommandOptions): UploadOptions {
  return {
    ...(options.partSize === undefined ? {} : { partSize: parseByteSize(options.partSize, '--part-size') }),
    ...(options.concurrency === undefined ? {} : { concurrency: wholeNumber(options.concurrency, '--concurrency') }),
    ...awsOptions(options),
    resume: options.resume,
    statePath: options.state,
  };
}

function wholeNumber(text: string, option: string): number {
  if (!/^\d+$/.test(text)) throw new DiskError('USAGE', `${option} takes a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

function summary(result: UploadResult): string {
  const rate = result.seconds > 0 ? `${(result.size / result.seconds / 1e6).toFixed(0)} MB/s` : '-';
  return table([
    ['uploaded', result.url],
    ['size', sizeText(result.size)],
    ['parts', `${result.parts} of ${sizeText(result.partSize)}, ${result.concurrency} at a time${result.resumed ? `, ${result.partsSent} sent by this resume` : ''}`],
    ['xxh64', `${result.xxh64} (${result.xxh64Stored ? 'stored as the object\'s diskport-xxh64 metadata' : 'a stream: not stored'})`],
    ['time', `${result.seconds.toFixed(1)} s (${rate})`],
  ]);
}
