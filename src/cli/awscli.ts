/**
 * `diskport ec2 import-image` and `diskport imagebuilder import-vm-image`: the AWS CLI's commands with its options,
 * its parsing and its output (src/awscli/). Commander reads the argument list (main.ts names every option as the
 * AWS CLI does); list options take several space-separated structures as one variadic option; `--x` / `--no-x`
 * pairs leave the member unset unless one is given, the last one winning.
 */
import type { OperationOptions } from '../awscli/operation.js';

export type AwsCliCommand = 'import-image' | 'import-vm-image';

export async function runAwsCli(command: AwsCliCommand, options: OperationOptions): Promise<void> {
  const { runOperation } = await import('../awscli/operation.js');
  const spec = command === 'import-image' ? (await import('../awscli/import-image.js')).IMPORT_IMAGE : (await import('../awscli/imagebuilder.js')).IMPORT_VM_IMAGE;
  await runOperation(spec, options);
}
