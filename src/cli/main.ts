#!/usr/bin/env node
/**
 * The diskport command line: argument parsing and output only. Each command loads its implementation on
 * demand, so `diskport inspect` starts without loading what it does not use (the AWS SDK above all).
 */
import { Command, CommanderError, Option } from 'commander';
import { DiskError, asDiskError } from '../errors.js';

const program = new Command('diskport')
  .description('Inspect, convert, upload and import VM disk images for Amazon EC2.')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ outputError: () => undefined }); // failures are reported once, by report()

program
  .command('inspect')
  .description('say what an image is (format, subformat, sizes) by reading its metadata only')
  .argument('<file>', 'image file, or - for stdin')
  .option('--json', 'print one JSON object')
  .addOption(formatOption())
  .option('--allow-outside-folder', 'follow VMDK extent paths outside the descriptor folder')
  .action(async (file: string, options: CommandOptions) => {
    const { runInspect } = await import('./inspect.js');
    await runInspect(file, options);
  });

program
  .command('cat')
  .description('write the guest-visible bytes (like qemu-img convert -O raw)')
  .argument('<file>', 'image file, or - for stdin')
  .option('-o, --output <path>', 'write to this file (sparse) instead of stdout')
  .option('--json', 'errors as JSON; with -o, a JSON summary')
  .addOption(formatOption())
  .option('--allow-outside-folder', 'follow VMDK extent paths outside the descriptor folder')
  .action(async (file: string, options: CommandOptions) => {
    const { runCat } = await import('./cat.js');
    await runCat(file, options);
  });

export interface CommandOptions {
  json?: boolean;
  format?: string;
  output?: string;
  allowOutsideFolder?: boolean;
}

function formatOption(): Option {
  return new Option('-f, --format <name>', 'skip detection and read as this format').choices([
    'raw', 'vmdk', 'vhd', 'vhdx', 'qcow2',
  ]);
}

function report(error: unknown, json: boolean): number {
  const diskError = error instanceof DiskError ? error : asDiskError(error);
  process.stderr.write(`diskport: ${diskError.describe()} (${diskError.code})\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: diskError.toJSON() })}\n`);
  return diskError.exitStatus;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      return report(new DiskError('USAGE', error.message.replace(/^error: /, '')), json);
    }
    return report(error, json);
  }
}

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await main(process.argv);
