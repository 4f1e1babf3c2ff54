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
  .option('--verify', 'OVA: hash every file and compare with the manifest (a mismatch fails)')
  .addOption(formatOption())
  .option('--allow-outside-folder', 'follow VMDK extent paths outside the descriptor folder')
  .action(async (file: string, options: CommandOptions) => {
    const { runInspect } = await import('./inspect.js');
    await runInspect(file, options);
  });

program
  .command('check')
  .description('preflight for EC2 VM Import: every rule the image breaks, with the fix, and the ImportImage request')
  .argument('<files...>', 'images, OVAs or folders of them (several are checked in parallel)')
  .option('--json', 'print the report as JSON (one object; several inputs: {"results": [...]})')
  .option('--verify', 'OVA: hash every file and compare with the manifest')
  .option('--import-image-json', 'print the ImportImage request (aws ec2 import-image --cli-input-json); the inputs are one VM\'s disks, boot disk first')
  .addOption(new Option('--boot-mode <mode>', 'the BootMode the import will ask for').choices(['legacy-bios', 'uefi', 'uefi-preferred']))
  .addOption(new Option('--platform <name>', 'the guest platform, when you know it').choices(['Windows', 'Linux']))
  .addOption(new Option('--architecture <name>', 'the guest architecture, when you know it').choices(['x86_64', 'i386', 'arm64']))
  .option('--bucket <name>', 'S3 bucket for the request\'s DiskContainers')
  .option('--prefix <text>', 'S3 key prefix (the key is prefix + file name)', '')
  .option('--timeout <seconds>', 'several inputs: give up on one image after this long (default 30)')
  .addOption(formatOption())
  .option('--allow-outside-folder', 'follow VMDK extent paths outside the descriptor folder')
  .action(async (files: string[], options: import("./check.js").CheckCommandOptions) => {
    const { runCheck } = await import('./check.js');
    commandStatus = await runCheck(files, options);
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

program
  .command('sandbox')
  .description('serve a local VM Import sandbox (S3 + EC2 ImportImage) on 127.0.0.1; prints the environment to use it')
  .option('--port <number>', 'port for both S3 and EC2 (default: any free port)')
  .option('--dir <path>', 'store S3 objects in this folder (default: a temporary one, removed on exit)')
  .option('--speed <factor>', 'import speed-up: each task step takes 1/factor of its time (default 1: about 4 s per import)')
  .option('--json', 'print the environment as one JSON object instead of export lines')
  .action(async (options: import('./sandbox.js').SandboxCommandOptions) => {
    const { runSandbox } = await import('./sandbox.js');
    commandStatus = await runSandbox(options);
  });

program
  .command('convert')
  .description('convert an image to another format as a stream (deflate on every core); OUT may be - for stdout')
  .argument('<input>', 'image file, or - for stdin')
  .argument('<output>', 'output file, or - for stdout (streamOptimized VMDK, fixed VHD, RAW, OVA)')
  .addOption(new Option('-t, --to <format>', 'output format (default: from the output name)').choices(['vmdk', 'vhd', 'vhdx', 'raw', 'ova']))
  .option('--subformat <name>', 'vmdk: streamOptimized (default) | monolithicSparse; vhd: dynamic | fixed; vhdx: dynamic | fixed')
  .option('--workers <n>', 'threads for compression (default: one per core)')
  .option('--verify', 'read the output back and compare its content fingerprint (xxh64) with the source\'s')
  .option('--force', 'replace the output file if it exists')
  .option('--json', 'print the summary as one JSON object')
  .addOption(formatOption())
  .option('--allow-outside-folder', 'follow VMDK extent paths outside the descriptor folder')
  .action(async (input: string, output: string, options: import('./convert.js').ConvertCommandOptions) => {
    const { runConvert } = await import('./convert.js');
    commandStatus = await runConvert(input, output, options);
  });

/** The status a command that judges its input (check) asks to exit with; failures set theirs in report(). */
let commandStatus = 0;

export interface CommandOptions {
  json?: boolean;
  verify?: boolean;
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
    return commandStatus;
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
