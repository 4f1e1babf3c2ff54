/**
 * The full ImportImage input, merged in one place: what the check report implies (Format, BootMode, Architecture,
 * Platform), where the disks really are (UserBucket from the upload or the s3:// input), ClientData from the real
 * upload, then every field the caller sets, which wins. DiskContainers merge by position, field by field.
 */
import type { ClientData, ImageDiskContainer, ImportImageCommandInput } from '@aws-sdk/client-ec2';
import type { ImportImageRequest as CheckedRequest } from '../preflight/index.js';
import type { S3Target } from '../upload/target.js';

export type ImportImageInput = ImportImageCommandInput;

/** Any ImportImage field, in the API's own names; DiskContainers[i] is merged onto the i-th derived disk. */
export type ImportOverrides = Partial<ImportImageCommandInput>;

export interface DerivedRequest {
  /** The request the check report implies; undefined when it gave none (an image converted on the way). */
  checked: CheckedRequest | undefined;
  /** Where each disk lies in S3, boot disk first. */
  disks: S3Target[];
  /** The Format of each disk as uploaded, when the check report does not say it (a conversion's output). */
  formats?: string[];
  /** From the real upload (or the object's size). */
  clientData: ClientData;
}

export const CLIENT_DATA_COMMENT = 'diskport import';

export function mergeRequest(derived: DerivedRequest, overrides: ImportOverrides = {}): ImportImageInput {
  const { checked } = derived;
  const { DiskContainers: containerOverrides = [], ClientData: clientDataOverride, ...fields } = overrides;
  const count = Math.max(derived.disks.length, containerOverrides.length);
  const DiskContainers = Array.from({ length: count }, (_, index) =>
    mergeContainer(derivedContainer(derived, index), containerOverrides[index] ?? {}),
  );
  return {
    ...(checked?.BootMode === undefined ? {} : { BootMode: checked.BootMode }),
    ...(checked?.Architecture === undefined ? {} : { Architecture: checked.Architecture }),
    ...(checked?.Platform === undefined ? {} : { Platform: checked.Platform }),
    ...(checked?.Description === undefined ? {} : { Description: checked.Description }),
    ...withoutUndefined(fields),
    DiskContainers,
    ClientData: { ...derived.clientData, ...withoutUndefined(clientDataOverride ?? {}) },
  };
}

function derivedContainer(derived: DerivedRequest, index: number): ImageDiskContainer {
  const checked = derived.checked?.DiskContainers[index];
  const disk = derived.disks[index];
  const format = derived.formats?.[index] ?? checked?.Format;
  return {
    ...(checked?.Description === undefined ? {} : { Description: checked.Description }),
    ...(format === undefined ? {} : { Format: format }),
    ...(disk === undefined ? {} : { UserBucket: { S3Bucket: disk.bucket, S3Key: disk.key } }),
  };
}

/** A disk the caller points elsewhere (Url, SnapshotId) no longer carries the derived UserBucket. */
function mergeContainer(derived: ImageDiskContainer, override: ImageDiskContainer): ImageDiskContainer {
  const elsewhere = override.Url !== undefined || override.SnapshotId !== undefined;
  const { UserBucket, ...rest } = derived;
  return { ...rest, ...(elsewhere || UserBucket === undefined ? {} : { UserBucket }), ...withoutUndefined(override) };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}
