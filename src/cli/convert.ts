import { basename, extname } from 'node:path';
import type { ConvertSummary } from '../convert/file.js';
import { DiskError } from '../errors.js';
import { progressReporter } from './progress.js';
import { sizeText } from './text.js';

export interface ConvertCommandOptions {
  to?: string;
  subformat?: string;
  workers?: string;
  verify?: boolean;
  force?: boolean;
  json?: boolean;
  format?: string;
  allowOutsideFolder?: boolean;
}

/** Output formats by file extension, so `--to` can be left out when the name says it. */
const BY_EXTENSION: Record<string, string> = { '.vmdk': 'vmdk', '.vhd': 'vhd', '.vhdx': 'vhdx', '.raw': 'raw', '.img': 'raw', '.ova': 'ova' };

export async function runConvert(input: string, output: string, options: ConvertCommandOptions): Promise<number> {
  const { convertFile } = await import('../convert/file.js');
  const toStdout = output === '-';
  if (toStdout && process.stdout.isTTY) throw new DiskError('USAGE', 'refusing to write a disk image to a terminal: redirect stdout or name an output file');
  // A bar on a terminal only: --json promises one object, and stdout may be carrying the image.
  const reporter = await progressReporter({});
  const summary = await convertFile(input, toStdout ? process.stdout : output, {
    to: targetFormat(output, options.to) as never,
    subformat: options.subformat,
    workers: options.workers === undefined ? undefined : Number(options.workers),
    name: stem(toStdout ? input : output),
    verify: options.verify,
    overwrite: options.force,
    open: { format: options.format, allowOutsideFolder: options.allowOutsideFolder },
    onProgress: ({ bytes, total }) => reporter?.update({ phase: 'convert', bytes, total }),
  }).finally(() => reporter?.stop());
  // With the image on stdout, the summary goes to stderr.
  const out = toStdout ? process.stderr : process.stdout;
  out.write(options.json ? `${JSON.stringify(summary)}\n` : summaryText(summary));
  if (summary.verify !== undefined && !summary.verify.match) {
    throw new DiskError('VERIFY_MISMATCH', `the output's content (${summary.verify.output}) differs from the source's (${summary.verify.source})`, {
      file: output,
    });
  }
  return 0;
}

function targetFormat(output: string, to: string | undefined): string {
  if (to !== undefined) return to;
  const byName = BY_EXTENSION[extname(output).toLowerCase()];
  if (byName === undefined) throw new DiskError('USAGE', `say which format to write with --to (the output name ${JSON.stringify(output)} does not tell)`);
  return byName;
}

/** A file's name without folder or extension: the virtual machine's name in an OVA. */
function stem(path: string): string {
  return path === '-' ? 'disk' : basename(path, extname(path));
}

function summaryText(summary: ConvertSummary): string {
  const rate = summary.virtualSize === null || summary.seconds === 0 ? '' : `, ${(summary.virtualSize / summary.seconds / 1e6).toFixed(0)} MB/s of guest data`;
  const lines = [
    `wrote ${summary.output}: ${summary.format} ${summary.subformat}, ${sizeText(summary.outputSize)} in ${summary.seconds.toFixed(2)} s${rate}`,
  ];
  if (summary.virtualSize !== null) lines.push(`virtual size ${sizeText(summary.virtualSize)}`);
  if (summary.verify !== undefined) {
    const { source, output, match } = summary.verify;
    lines.push(match ? `verified: content xxh64 ${output} matches the source` : `VERIFY FAILED: source ${source}, output ${output}`);
  }
  return `${lines.join('\n')}\n`;
}
