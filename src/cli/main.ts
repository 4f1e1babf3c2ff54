#!/usr/bin/env node
/**
 * The diskport command line: argument parsing and output only. Each command loads its implementation on
 * demand, so `diskport inspect` starts without loading what it does not use (the AWS SDK above all).
 */
import { Command, CommanderError, Option } from 'commander';
import { DiskError, asDiskError } from '../errors.js';

/** commander's Command with addOptions, for the flag groups several commands share (subcommands come from createCommand). */
class DiskportCommand extends Command {
  override createCommand(name?: string): DiskportCommand {
    return new DiskportCommand(name);
  }

  addOptions(options: readonly Option[]): this {
    for (const option of options) this.addOption(option);
    return this;
  }
}

const program = new DiskportCommand('diskport')
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
  .command('upload')
  .description('upload a file to S3: parallel multipart, a CRC32 per part, the content hash as metadata, resumable')
  .argument('<file>', 'the file to upload, or - for stdin (a pipe cannot be resumed)')
  .argument('<url>', 's3://bucket/key (a key ending in / gets the file name)')
  .option('--concurrency <n>', 'parts in flight at once (default 8, fewer for very large parts)')
  .option('--part-size <size>', 'part size, e.g. 16MiB (default 16MiB, more when the file needs it to fit 10,000 parts)')
  .option('--resume', 'continue the interrupted upload named in the state file')
  .option('--state <path>', 'the resume state file (default FILE.diskport-upload.json)')
  .addOption(new Option('--as <format>', 'convert while uploading (vmdk: streamOptimized, vhd: fixed, raw); no temporary file').choices(['vmdk', 'vhd', 'raw']))
  .addOptions(awsFlags('an S3-compatible endpoint (path-style addressing)', 'JSON lines: progress, then the result'))
  .action(async (file: string, url: string, options: import('./upload.js').UploadCommandOptions) => {
    const { runUpload } = await import('./upload.js');
    await runUpload(file, url, options);
  });

program
  .command('verify')
  .description('prove an S3 object equals what was uploaded: its XXH64 against its metadata and a local file')
  .argument('<url>', 's3://bucket/key')
  .argument('[file]', 'the local file to compare with')
  .addOptions(awsFlags('an S3-compatible endpoint (path-style addressing)', 'print one JSON object'))
  .action(async (url: string, file: string | undefined, options: import('./verify.js').VerifyCommandOptions) => {
    const { runVerify } = await import('./verify.js');
    await runVerify(url, file, options);
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

const importCommand = program
  .command('import')
  .description('import an image to an AMI: check, convert if needed, upload, ImportImage, follow the task to its end')
  .argument('<input>', 'image file (uploaded first) or s3://bucket/key')
  .option('--bucket <name>', 'S3 bucket a local file is uploaded to (--sandbox: its own bucket)')
  .option('--key <key>', 'S3 key for the upload (default: prefix + file name)')
  .option('--prefix <text>', 'S3 key prefix for the upload', '')
  .option('--no-wait', 'return once ImportImage has started the task')
  .option('--force', 'import even when the check finds errors')
  .option('--sandbox', 'run against a local VM Import sandbox started for this run (no AWS account needed)')
  .option('--request-json <file>', 'ImportImage fields as JSON (aws ec2 import-image --cli-input-json); the flags override them')
  .option('--description <text>', 'Description of the import task')
  .option('--boot-mode <mode>', 'BootMode: legacy-bios | uefi')
  .option('--architecture <name>', 'Architecture: x86_64 | i386')
  .option('--platform <name>', 'Platform: Windows | Linux')
  .option('--license-type <type>', 'LicenseType: AWS | BYOL')
  .option('--hypervisor <name>', 'Hypervisor: xen')
  .option('--role-name <name>', 'the VM Import service role (default vmimport)')
  .option('--encrypted', 'encrypt the AMI\'s snapshots (Encrypted)')
  .option('--kms-key-id <key>', 'KMS key for --encrypted (KmsKeyId)')
  .option('--usage-operation <op>', 'UsageOperation, e.g. RunInstances:0002')
  .option('--client-token <token>', 'ClientToken (default: derived from the content, the target and the parameters)')
  .option('--dry-run', 'check permissions and parameters with DryRun; nothing is uploaded or started')
  .option('--tag <key=value>', 'tag the import task (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
  .option('--license-configuration-arn <arn>', 'LicenseSpecifications (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
  .option('--disk-description <text>', 'DiskContainers[0].Description')
  .option('--device-name <name>', 'DiskContainers[0].DeviceName')
  .option('--disk-format <format>', 'DiskContainers[0].Format: OVA | VHD | VHDX | VMDK | RAW')
  .option('--disk-url <url>', 'DiskContainers[0].Url instead of UserBucket (s3:// or https://)')
  .option('--snapshot-id <id>', 'DiskContainers[0].SnapshotId')
  .option('--client-data-comment <text>', 'ClientData.Comment')
  .option('--image-builder <shorthand>', 'then register the AMI with EC2 Image Builder: name=N,semantic-version=1.0.0,platform=Linux[,os-version=V,description=D]')
  .addOptions(awsFlags('an EC2 endpoint (S3: AWS_ENDPOINT_URL_S3)', 'JSON lines: progress events, then the result'))
  .action(async (input: string, options: import('./import.js').ImportCommandOptions) => {
    const { runImport } = await import('./import.js');
    commandStatus = await runImport(input, options);
  });

importCommand
  .command('status')
  .description('show an import task (DescribeImportImageTasks)')
  .argument('<task>', 'import-ami-…')
  .addOptions(awsFlags('an EC2 endpoint', 'print one JSON object'))
  // `import status TASK --json`: commander gives flags import also knows to import, so read both commands' flags.
  .action(async (task: string, _options: unknown, command: Command) => {
    const { runImportStatus } = await import('./import.js');
    commandStatus = await runImportStatus(task, command.optsWithGlobals());
  });

importCommand
  .command('cancel')
  .description('cancel an active import task (CancelImportTask)')
  .argument('<task>', 'import-ami-…')
  .option('--reason <text>', 'CancelReason')
  .addOptions(awsFlags('an EC2 endpoint', 'print one JSON object'))
  .action(async (task: string, _options: unknown, command: Command) => {
    const { runImportCancel } = await import('./import.js');
    commandStatus = await runImportCancel(task, command.optsWithGlobals());
  });

// AWS-CLI-compatible commands: every option spelled as the AWS CLI spells it (src/cli/awscli.ts says how commander
// is made to follow the CLI's conventions). List options take several space-separated structures.
program
  .command('ec2')
  .description('AWS-CLI-compatible EC2 commands: the options, requests and output of `aws ec2 …`')
  .command('import-image')
  .description('ImportImage as `aws ec2 import-image` sends it (shorthand, JSON, file://, --cli-input-json/yaml, skeletons)')
  .option('--architecture <value>', 'i386 | x86_64')
  .option('--client-data <value>', 'Comment=string,UploadEnd=timestamp,UploadSize=double,UploadStart=timestamp (or JSON)')
  .option('--client-token <value>', 'idempotency token')
  .option('--description <value>', 'description of the import task')
  .option('--disk-containers <value...>', 'Description=…,DeviceName=…,Format=…,SnapshotId=…,Url=…,UserBucket={S3Bucket=…,S3Key=…} … (or JSON)')
  .option('--dry-run', 'check permissions only (EC2 answers DryRunOperation)')
  .option('--no-dry-run', 'send the request')
  .option('--encrypted', 'encrypt the AMI\'s snapshots')
  .option('--no-encrypted', 'do not ask for encryption')
  .option('--hypervisor <value>', 'xen')
  .option('--kms-key-id <value>', 'KMS key for the encrypted AMI (needs --encrypted)')
  .option('--license-type <value>', 'AWS | BYOL')
  .option('--platform <value>', 'Windows | Linux')
  .option('--role-name <value>', 'service role (default vmimport)')
  .option('--license-specifications <value...>', 'LicenseConfigurationArn=string … (or JSON)')
  .option('--tag-specifications <value...>', 'ResourceType=import-image-task,Tags=[{Key=…,Value=…}] … (or JSON)')
  .option('--usage-operation <value>', 'usage operation')
  .option('--boot-mode <value>', 'legacy-bios | uefi')
  .addOptions(awsCliFlags('EC2 endpoint (default AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL)'))
  .action(async (options: import('../awscli/operation.js').OperationOptions) => {
    const { runAwsCli } = await import('./awscli.js');
    await runAwsCli('import-image', options);
  });

program
  .command('imagebuilder')
  .description('AWS-CLI-compatible Image Builder commands: the options, requests and output of `aws imagebuilder …`')
  .command('import-vm-image')
  .description('ImportVmImage as `aws imagebuilder import-vm-image` sends it: a base image from a completed VM import')
  .option('--name <value>', 'image name (3 to 128 letters, digits, - and _, spaces inside)')
  .option('--semantic-version <value>', '<major>.<minor>.<patch>, each 0 to 2^30-1')
  .option('--description <value>', 'description')
  .option('--platform <value>', 'Windows | Linux | macOS')
  .option('--os-version <value>', 'operating system version')
  .option('--vm-import-task-id <value>', 'the import-ami-… task of a completed import')
  .option('--logging-configuration <value>', 'logGroupName=string (or JSON)')
  .option('--tags <value>', 'KeyName1=string,KeyName2=string (or JSON)')
  .option('--client-token <value>', 'idempotency token (default: a new UUID)')
  .addOptions(awsCliFlags('Image Builder endpoint (default AWS_ENDPOINT_URL_IMAGEBUILDER, AWS_ENDPOINT_URL)'))
  .action(async (options: import('../awscli/operation.js').OperationOptions) => {
    const { runAwsCli } = await import('./awscli.js');
    await runAwsCli('import-vm-image', options);
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

/** The AWS client flags and --json of the commands that call AWS (upload, verify, import and its subcommands). */
function awsFlags(endpointHelp: string, jsonHelp: string): Option[] {
  return [
    new Option('--profile <name>', 'AWS profile for credentials and region'),
    new Option('--region <name>', 'AWS region'),
    new Option('--endpoint-url <url>', endpointHelp),
    new Option('--json', jsonHelp),
  ];
}

/** The AWS CLI's own options (input, skeleton, endpoint, region, profile, output, pager) every AWS-CLI-compatible command takes. */
function awsCliFlags(endpointHelp: string): Option[] {
  return [
    new Option('--cli-input-json <value>', 'the request as JSON (inline or file://); explicit options win'),
    new Option('--cli-input-yaml <value>', 'the request as YAML (inline or file://); explicit options win'),
    new Option('--generate-cli-skeleton [value]', 'print a request skeleton: input (default) | yaml-input | output'),
    new Option('--endpoint-url <url>', endpointHelp),
    new Option('--region <name>', 'AWS region'),
    new Option('--profile <name>', 'AWS profile'),
    new Option('--output <format>', 'json | yaml | text | table (default AWS_DEFAULT_OUTPUT, else json)'),
    new Option('--no-cli-pager', 'accepted for compatibility: diskport never pages'),
  ];
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
