/**
 * The ImportImage request a check implies, in the shape `aws ec2 import-image --cli-input-json` and the SDK's
 * ImportImageCommand take: DiskContainers with their Format, BootMode / Architecture / Platform where the image
 * tells, ClientData.UploadSize. Only what the image (or the user) decides goes in; VM Import defaults the rest.
 */
import { basename } from 'node:path';
import { architectureOf, platformOf, requestedBootMode } from './guest.js';
import type { Subject } from './types.js';

export interface ImageDiskContainer {
  Description?: string;
  Format: 'OVA' | 'VMDK' | 'VHD' | 'VHDX' | 'RAW';
  UserBucket?: { S3Bucket: string; S3Key: string };
}

export interface ImportImageRequest {
  Description?: string;
  DiskContainers: ImageDiskContainer[];
  BootMode?: 'legacy-bios' | 'uefi';
  Architecture?: 'x86_64' | 'i386';
  Platform?: 'Windows' | 'Linux';
  ClientData: { UploadSize: number; Comment?: string };
}

export interface RequestPlacement {
  /** S3 bucket the files are (or will be) uploaded to; without it, DiskContainers carry no UserBucket. */
  bucket?: string;
  /** Prepended to each file's base name to make its S3 key. */
  prefix?: string;
  description?: string;
}

const GiB = 2 ** 30;

/**
 * One request for the disks of one VM: the subjects in order, the first being the boot disk. Returns undefined
 * when a file has no format ImportImage can name (qcow2, say), as no valid request exists then.
 */
export function buildImportImageRequest(subjects: Subject[], placement: RequestPlacement = {}): ImportImageRequest | undefined {
  const boot = subjects[0];
  if (boot === undefined) return undefined;
  const containers = subjects.map((subject) => diskContainer(subject, placement));
  if (containers.some((container) => container === undefined)) return undefined;
  const bootMode = requestedBootMode(boot);
  const architecture = architectureOf(boot);
  const platform = platformOf(boot);
  const uploadBytes = subjects.reduce((sum, subject) => sum + fileSize(subject), 0);
  return {
    ...(placement.description === undefined ? {} : { Description: placement.description }),
    DiskContainers: containers as ImageDiskContainer[],
    ...(bootMode === undefined ? {} : { BootMode: bootMode }),
    ...(architecture === 'x86_64' || architecture === 'i386' ? { Architecture: architecture } : {}),
    ...(platform === null ? {} : { Platform: platform }),
    ClientData: { UploadSize: Math.round((uploadBytes / GiB) * 1e6) / 1e6, Comment: 'parameters from diskport check' },
  };
}

/** undefined when a disk (standalone, or inside the OVA) is in a format VM Import does not read. */
function diskContainer(subject: Subject, placement: RequestPlacement): ImageDiskContainer | undefined {
  const format = subject.ova === null ? subject.disks[0]?.format : 'ova';
  if (format === undefined || subject.disks.length === 0 || subject.disks.some((disk) => disk.format === 'qcow2')) return undefined;
  const name = basename(subject.file);
  return {
    Description: name,
    Format: format.toUpperCase() as ImageDiskContainer['Format'],
    ...(placement.bucket === undefined ? {} : { UserBucket: { S3Bucket: placement.bucket, S3Key: `${placement.prefix ?? ''}${name}` } }),
  };
}

/** The bytes that will be uploaded: the file's size, or for a pipe what streamed through (all of it, by now). */
function fileSize(subject: Subject): number {
  const whole = subject.ova ?? subject.disks[0];
  return whole?.fileSize ?? whole?.bytesRead ?? 0;
}
