/**
 * The check step of an import: `check` on a local file, and the same preflight on an S3 object read by ranged
 * GETs through the import's own S3 client (check() opens s3:// with a client from the environment only, which
 * would ignore --profile and the sandbox). Also which findings a conversion on the way removes.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { check, refused, subjectOf, type CheckReport } from '../check.js';
import { asDiskError } from '../errors.js';
import { buildImportImageRequest, type Finding, type ImportImageRequest, type ImportIntent } from '../preflight/index.js';
import { S3Source } from '../source/s3.js';

/**
 * What converting to a streamOptimized VMDK while uploading fixes: the format itself. Backed or encrypted qcow2
 * never get this far (the reader refuses them with their own codes).
 */
const FIXED_BY_CONVERSION = new Set(['FORMAT_UNSUPPORTED', 'VMDK_NOT_STREAM_OPTIMIZED', 'VMDK_DESCRIPTOR_ONLY']);

export async function checkInput(input: string, intent: ImportIntent, s3: () => Promise<S3Client>): Promise<CheckReport> {
  if (!input.startsWith('s3://')) return check(input, { intent });
  return checkObject(input, await s3(), intent);
}

/** check() of the object, opened with the import's client; a HEAD that fails is reported as check reports any open. */
async function checkObject(url: string, client: S3Client, intent: ImportIntent): Promise<CheckReport> {
  let source: S3Source;
  try {
    source = await S3Source.open(url, { client });
  } catch (caught) {
    return refused(url, asDiskError(caught, url));
  }
  return check(source, { intent });
}

/** True when the image must be converted on the way: its only errors are ones a streamOptimized VMDK fixes. */
export function needsConversion(report: CheckReport): boolean {
  const errors = report.findings.filter((f) => f.severity === 'error');
  return report.inspect !== null && report.inspect.format !== 'ova' && errors.some((f) => FIXED_BY_CONVERSION.has(f.code));
}

/**
 * The request the report implies (BootMode, Architecture, Platform, Format), for the image as it will be
 * uploaded: converted to a VMDK, the same guest facts with the new format.
 */
export function checkedRequest(report: CheckReport, intent: ImportIntent, converting: boolean): ImportImageRequest | undefined {
  if (!converting) return report.importImage ?? undefined;
  if (report.inspect === null) return undefined;
  const subject = subjectOf(report.file, report.inspect, intent);
  return buildImportImageRequest([{ ...subject, disks: subject.disks.map((disk) => ({ ...disk, format: 'vmdk' as const })) }]);
}

/** The errors that block the import, once a conversion (when one is made) has removed its own. */
export function blockingFindings(report: CheckReport, converting: boolean): Finding[] {
  return report.findings.filter((f) => f.severity === 'error' && !(converting && FIXED_BY_CONVERSION.has(f.code)));
}
