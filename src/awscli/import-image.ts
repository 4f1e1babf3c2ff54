/**
 * `aws ec2 import-image`: its request and answer shapes (member order, types and enums of the EC2 model the AWS
 * CLI is generated from), checked by diskport's ImportImage rules (src/import/validate.ts) and sent through the
 * import side's EC2 client.
 */
import { createEc2Client, ec2Sdk } from '../import/client.js';
import { ec2Error } from '../import/ec2-errors.js';
import { validateRequest } from '../import/validate.js';
import type { OperationSpec } from './operation.js';
import { double, flag, list, structure, text, timestamp } from './shape.js';

const userBucket = structure({ S3Bucket: text(), S3Key: text() });
const tag = structure({ Key: text(), Value: text() });
const licenseSpecification = structure({ LicenseConfigurationArn: text() });

/** The ImportImage request, members in the model's order (as the CLI's skeleton lists them). */
export const IMPORT_IMAGE_INPUT = structure({
  Architecture: text(['i386', 'x86_64']),
  ClientData: structure({ Comment: text(), UploadEnd: timestamp, UploadSize: double, UploadStart: timestamp }),
  ClientToken: text(),
  Description: text(),
  DiskContainers: list(
    structure({
      Description: text(),
      DeviceName: text(),
      Format: text(['OVA', 'VHD', 'VHDX', 'VMDK', 'RAW']),
      SnapshotId: text(),
      Url: text(),
      UserBucket: userBucket,
    }),
  ),
  DryRun: flag,
  Encrypted: flag,
  Hypervisor: text(['xen']),
  KmsKeyId: text(),
  LicenseType: text(['AWS', 'BYOL']),
  Platform: text(['Windows', 'Linux']),
  RoleName: text(),
  LicenseSpecifications: list(licenseSpecification),
  TagSpecifications: list(structure({ ResourceType: text(['import-image-task']), Tags: list(tag) })),
  UsageOperation: text(),
  BootMode: text(['legacy-bios', 'uefi']),
});

/** The ImportImage answer, members in the model's order (the order the CLI prints them in). */
export const IMPORT_IMAGE_OUTPUT = structure({
  Architecture: text(),
  Description: text(),
  Encrypted: flag,
  Hypervisor: text(),
  ImageId: text(),
  ImportTaskId: text(),
  KmsKeyId: text(),
  LicenseType: text(),
  Platform: text(),
  Progress: text(),
  SnapshotDetails: list(
    structure({
      Description: text(),
      DeviceName: text(),
      DiskImageSize: double,
      Format: text(),
      Progress: text(),
      SnapshotId: text(),
      Status: text(),
      StatusMessage: text(),
      Url: text(),
      UserBucket: userBucket,
    }),
  ),
  Status: text(),
  StatusMessage: text(),
  LicenseSpecifications: list(licenseSpecification),
  Tags: list(tag),
  UsageOperation: text(),
});

export const IMPORT_IMAGE: OperationSpec = {
  name: 'ImportImage',
  input: IMPORT_IMAGE_INPUT,
  output: IMPORT_IMAGE_OUTPUT,
  required: [],
  validate: (input) => void validateRequest(input),
  send: async (input, client) => {
    const [ec2, { ImportImageCommand }] = await Promise.all([createEc2Client(client), ec2Sdk()]);
    try {
      return await ec2.send(new ImportImageCommand(input));
    } catch (error) {
      throw ec2Error(error, 'ImportImage');
    } finally {
      ec2.destroy();
    }
  },
};
