/**
 * Preflight: inspects an image (or OVA), runs the VM Import rules over what it found, and says which
 * ImportImage request fits it. Unreadable input is an `error` (exit 2 in the CLI); rule errors make `ok` false
 * (exit 1).
 */
import { asDiskError } from './errors.js';
import type { ByteSource } from './source/types.js';
import { inspect, type InspectOptions, type InspectReport, type DiskReport } from './inspect.js';
import {
  buildImportImageRequest,
  guestFacts,
  refusalFinding,
  runRules,
  type Finding,
  type GuestFacts,
  type ImportImageRequest,
  type ImportIntent,
  type RequestPlacement,
  type Subject,
} from './preflight/index.js';

export interface CheckOptions extends InspectOptions {
  /** What the import will ask for, where the user already knows (a contradiction is a finding). */
  intent?: ImportIntent;
  /** Where the request's DiskContainers point in S3. */
  placement?: RequestPlacement;
  /** 'data': the file is a further disk of a VM whose boot disk is checked separately (no boot rules). */
  role?: 'boot' | 'data';
}

export interface CheckReport {
  file: string;
  /** False when any finding is an error, or the input could not be read. */
  ok: boolean;
  counts: { errors: number; warnings: number; infos: number };
  findings: Finding[];
  /** The input could not be read at all (the CLI exits 2): its DiskError. */
  error?: { code: string; message: string; file?: string; offset?: number; field?: string };
  guest: GuestFacts | null;
  /** The ImportImage request for this file alone; null when no valid one exists (unreadable, qcow2). */
  importImage: ImportImageRequest | null;
  inspect: InspectReport | null;
}

/** Checks a file (or `-`, or an s3:// URL) or an open source, which it closes. */
export async function check(input: string | ByteSource, options: CheckOptions = {}): Promise<CheckReport> {
  const name = typeof input === 'string' ? input : input.name;
  let report: InspectReport;
  try {
    report = await inspect(input, options);
  } catch (caught) {
    return refused(name, asDiskError(caught, name));
  }
  const subject = subjectOf(name, report, options.intent ?? {}, options.role);
  const findings = runRules(subject);
  return {
    file: report.file,
    ok: !findings.some((f) => f.severity === 'error'),
    counts: countOf(findings),
    findings,
    guest: subject.guest,
    importImage: buildImportImageRequest([subject], options.placement) ?? null,
    inspect: report,
  };
}

/** The facts the rules judge, from an inspect report. */
export function subjectOf(file: string, report: InspectReport, intent: ImportIntent, role: Subject['role'] = 'boot'): Subject {
  const ova = report.format === 'ova' ? report : null;
  const disks: DiskReport[] = ova === null ? [report as DiskReport] : ova.disks;
  return { file, disks, ova, guest: guestFacts(disks, ova), intent, role };
}

/** An open that failed: a refusal VM Import shares (differencing disk, ...) is a finding, anything else an error. */
export function refused(file: string, error: ReturnType<typeof asDiskError>): CheckReport {
  const finding = refusalFinding(error);
  return reportWithoutImage(file, finding === undefined ? { error: error.toJSON() as UnreadableError } : { finding });
}

type UnreadableError = NonNullable<CheckReport['error']>;

/**
 * The report of an input with no inspection behind it: refused for what it is (its finding), or unreadable (its
 * error; the CLI exits 2), also when a worker probing it timed out or died.
 */
export function reportWithoutImage(file: string, outcome: { finding: Finding } | { error: UnreadableError }): CheckReport {
  const findings = 'finding' in outcome ? [outcome.finding] : [];
  return {
    file,
    ok: false,
    counts: countOf(findings),
    findings,
    ...('error' in outcome ? { error: outcome.error } : {}),
    guest: null,
    importImage: null,
    inspect: null,
  };
}

function countOf(findings: Finding[]): CheckReport['counts'] {
  const count = (severity: string) => findings.filter((f) => f.severity === severity).length;
  return { errors: count('error'), warnings: count('warning'), infos: count('info') };
}
