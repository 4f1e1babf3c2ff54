/**
 * The check step of an import: `check` on a local file, and the same preflight on an S3 object read by ranged
 * GETs through the import's own S3 client (check() opens s3:// with a client from the environment only, which
 * would ignore --profile and the sandbox). Also which findings a conversion on the way removes.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { check, reportWithoutImage, subjectOf, type CheckReport } from '../check.js';
import { asDiskError } from '../errors.js';
import { inspect } from '../inspect.js';
import {
  buildImportImageRequest,
  refusalFinding,
  runRules,
  type Finding,
  type ImportImageRequest,
  type ImportIntent,
} from '../preflight/index.js';
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

async function checkObject(url: string, client: S3Client, intent: ImportIntent): Promise<CheckReport> {
  let report;
  try {
    report = await inspect(await S3Source.open(url, { client }));
  } catch (caught) {
    const error = asDiskError(caught, url);
    const finding = refusalFinding(error);
    return reportWithoutImage(url, finding === undefined ? { error: error.toJSON() as NonNullable<CheckReport['error']> } : { finding });
  }
  const subject = subjectOf(url, report, intent);
  const findings = runRules(subject);
  const count = (severity: Finding['severity']) => findings.filter((f) => f.severity === severity).length;
  return {
    file: url,
    ok: count('error') === 0,
    counts: { errors: count('error'), warnings: count('warning'), infos: count('info') },
    findings,
    guest: subject.guest,
    importImage: buildImportImageRequest([subject]) ?? null,
    inspect: report,
  };
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
