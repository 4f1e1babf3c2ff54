/**
 * Tasks and AMIs as EC2 describes them, under the XML names of the SDK model (ImportImageTask, SnapshotDetail,
 * Image, BlockDeviceMapping).
 */
import type { XmlValue } from './xml.js';
import type { Ami, ImportTask } from './tasks.js';
import type { DiskContainerRequest } from './import-request.js';

/** The sandbox's account (s3rver's dummy account, so both services agree). */
export const ACCOUNT_ID = '123456789000';
const GiB = 2 ** 30;

/** An ImportImageTask (DescribeImportImageTasks item; ImportImage's result is the same without bootMode). */
export function taskXml(task: ImportTask): Record<string, XmlValue> {
  const { request, facts } = task;
  return {
    architecture: facts?.architecture ?? request.Architecture,
    description: request.Description,
    encrypted: request.Encrypted,
    hypervisor: request.Hypervisor,
    imageId: task.imageId,
    importTaskId: task.id,
    kmsKeyId: request.KmsKeyId,
    licenseType: task.imageId === undefined ? request.LicenseType : licenseTypeOf(task),
    platform: facts?.platform ?? request.Platform,
    progress: task.progress === undefined ? undefined : String(task.progress),
    snapshotDetailSet: snapshotDetails(task),
    status: task.status,
    statusMessage: task.statusMessage,
    tagSet: request.Tags.length === 0 ? undefined : request.Tags.map((tag) => ({ key: tag.Key, value: tag.Value })),
    licenseSpecifications: request.LicenseSpecifications?.map((spec) => ({ licenseConfigurationArn: spec.LicenseConfigurationArn })),
    usageOperation: request.UsageOperation,
    bootMode: facts?.bootMode ?? request.BootMode,
  };
}

/** Before the disks are judged: one detail per container, size 0, no status (as the service shows at first). */
function snapshotDetails(task: ImportTask): XmlValue[] {
  if (task.facts === undefined) return task.request.DiskContainers.map((container) => ({ ...containerXml(container), diskImageSize: 0 }));
  const snapshotStatus = task.status === 'completed' ? 'completed' : task.status === 'active' ? 'active' : 'deleted';
  return task.facts.snapshots.map((snapshot, index) => ({
    ...containerXml(snapshot.container),
    deviceName: snapshot.container.DeviceName ?? deviceName(index),
    diskImageSize: snapshot.diskImageSize,
    format: snapshot.format,
    snapshotId: task.snapshotIds?.[index],
    status: snapshotStatus,
  }));
}

function containerXml(container: DiskContainerRequest): Record<string, XmlValue> {
  return {
    description: container.Description,
    format: container.Format,
    url: container.Url,
    userBucket: container.UserBucket === undefined ? undefined : { s3Bucket: container.UserBucket.S3Bucket, s3Key: container.UserBucket.S3Key },
  };
}

/** The boot disk is /dev/sda1, the further disks /dev/sdb, /dev/sdc, … (as imported AMIs map them). */
function deviceName(index: number): string {
  return index === 0 ? '/dev/sda1' : `/dev/sd${String.fromCharCode(0x61 + index)}`;
}

/** Unset: AWS for Windows, BYOL for Linux (the API reference's rule; Windows client editions are not told apart). */
function licenseTypeOf(task: ImportTask): string {
  return task.request.LicenseType ?? (task.facts?.platform === 'Windows' ? 'AWS' : 'BYOL');
}

/** An Image (DescribeImages item) for an AMI an import made. */
export function imageXml(ami: Ami): Record<string, XmlValue> {
  const { facts, task } = ami;
  const windows = facts.platform === 'Windows';
  return {
    imageId: ami.imageId,
    imageLocation: `${ACCOUNT_ID}/${task.id}`,
    imageState: 'available',
    imageOwnerId: ACCOUNT_ID,
    creationDate: ami.createdAt.toISOString(),
    isPublic: false,
    architecture: facts.architecture,
    imageType: 'machine',
    platform: windows ? 'windows' : undefined,
    platformDetails: windows ? 'Windows' : 'Linux/UNIX',
    usageOperation: task.request.UsageOperation ?? (windows ? 'RunInstances:0002' : 'RunInstances'),
    name: task.id,
    description: task.request.Description ?? `AWS-VMImport service: ${facts.platform}`,
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/sda1',
    blockDeviceMapping: facts.snapshots.map((snapshot, index) => ({
      deviceName: snapshot.container.DeviceName ?? deviceName(index),
      ebs: {
        snapshotId: ami.snapshotIds[index],
        volumeSize: Math.max(1, Math.ceil(snapshot.virtualSize / GiB)),
        deleteOnTermination: true,
        volumeType: 'gp2',
        encrypted: task.request.Encrypted ?? false,
        kmsKeyId: task.request.KmsKeyId,
      },
    })),
    virtualizationType: 'hvm',
    hypervisor: 'xen',
    enaSupport: true,
    bootMode: facts.bootMode,
  };
}
