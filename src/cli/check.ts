import { check, reportWithoutImage, subjectOf, type CheckOptions, type CheckReport } from '../check.js';
import { DiskError } from '../errors.js';
import { buildImportImageRequest, type ImportIntent } from '../preflight/index.js';
import { checkMany, expandInputs, type CheckOutcome } from '../workers/check-many.js';
import { destroyPool } from '../workers/pool.js';
import type { CommandOptions } from './main.js';

/** Exit statuses of `check`, as the README documents them. */
const EXIT = { ok: 0, ruleErrors: 1, unreadable: 2 } as const;

export interface CheckCommandOptions extends CommandOptions {
  verify?: boolean;
  importImageJson?: boolean;
  bootMode?: ImportIntent['bootMode'];
  platform?: ImportIntent['platform'];
  architecture?: ImportIntent['architecture'];
  bucket?: string;
  prefix?: string;
  timeout?: string;
}

export async function runCheck(inputs: string[], options: CheckCommandOptions): Promise<number> {
  const checkOptions = checkOptionsOf(options);
  const files = await expandInputs(inputs);
  if (files.length === 0) throw new DiskError('USAGE', `no image files in ${inputs.join(', ')}`);
  const reports = await checkAll(files, checkOptions, options);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(reports.length === 1 ? reports[0] : { results: reports })}\n`);
  } else if (options.importImageJson) {
    process.stderr.write(reports.map(humanText).join(''));
  } else {
    process.stdout.write(reports.map(humanText).join(''));
  }
  if (options.importImageJson && !options.json) writeRequest(reports, checkOptions);
  return exitStatus(reports);
}

function checkOptionsOf(options: CheckCommandOptions): CheckOptions {
  const intent: ImportIntent = {
    ...(options.bootMode === undefined ? {} : { bootMode: options.bootMode }),
    ...(options.platform === undefined ? {} : { platform: options.platform }),
    ...(options.architecture === undefined ? {} : { architecture: options.architecture }),
  };
  return {
    format: options.format,
    allowOutsideFolder: options.allowOutsideFolder,
    verify: options.verify,
    intent,
    placement: { bucket: options.bucket, prefix: options.prefix },
  };
}

/**
 * One file is checked right here (no thread start-up to pay); several go to the worker pool, one task each.
 * For an import request the files are one VM's disks: the first boots, the others are data disks.
 */
async function checkAll(files: string[], options: CheckOptions, command: CheckCommandOptions): Promise<CheckReport[]> {
  if (files.length === 1) return [await check(files[0]!, options)];
  const timeoutMs = command.timeout === undefined ? undefined : secondsOption(command.timeout) * 1000;
  const poolOptions = { ...options, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
  try {
    if (!command.importImageJson) return (await checkMany(files, poolOptions)).map(reportOf);
    const [boot, data] = await Promise.all([
      checkMany(files.slice(0, 1), poolOptions),
      checkMany(files.slice(1), { ...poolOptions, role: 'data' }),
    ]);
    return [...boot, ...data].map(reportOf);
  } finally {
    await destroyPool();
  }
}

/** A probe that failed in the pool (timeout, crash) becomes an unreadable-input report for that file. */
function reportOf(outcome: CheckOutcome): CheckReport {
  if ('report' in outcome) return outcome.report;
  return reportWithoutImage(outcome.file, { error: outcome.error as NonNullable<CheckReport['error']> });
}

function secondsOption(text: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new DiskError('USAGE', `--timeout ${JSON.stringify(text)}: give seconds > 0`);
  return seconds;
}

/** The files are the disks of one VM, boot disk first: one request with a DiskContainer each. */
function writeRequest(reports: CheckReport[], options: CheckOptions): void {
  const readable = reports.every((report) => report.inspect !== null);
  const subjects = readable ? reports.map((r, i) => subjectOf(r.file, r.inspect!, options.intent ?? {}, i === 0 ? 'boot' : 'data')) : [];
  const request = readable ? buildImportImageRequest(subjects, options.placement) : undefined;
  if (request === undefined) {
    process.stderr.write('diskport: no ImportImage request: an input is unreadable or in a format ImportImage cannot name\n');
    return;
  }
  process.stdout.write(`${JSON.stringify(request, null, 2)}\n`);
}

function exitStatus(reports: CheckReport[]): number {
  if (reports.some((report) => report.error !== undefined)) return EXIT.unreadable;
  return reports.some((report) => !report.ok) ? EXIT.ruleErrors : EXIT.ok;
}

function humanText(report: CheckReport): string {
  if (report.error !== undefined) {
    const { offset, field, message, code } = report.error;
    const where = [offset === undefined ? undefined : `offset ${offset}`, field].filter((part) => part !== undefined);
    return `${report.file}: unreadable: ${where.length > 0 ? `${where.join(', ')}: ` : ''}${message} (${code})\n`;
  }
  const { errors, warnings } = report.counts;
  const head = errors + warnings === 0
    ? `${report.file}: ok${summary(report)}\n`
    : `${report.file}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}${summary(report)}\n`;
  const lines = report.findings.map((f) => `  ${f.severity.padEnd(7)} ${f.code}: ${f.message}\n          fix: ${f.fix}\n`);
  return head + lines.join('');
}

/** " (vmdk streamOptimized, uefi, Linux x86_64)": what the import will be told. */
function summary(report: CheckReport): string {
  const request = report.importImage;
  if (request === null) return '';
  const parts = [
    request.DiskContainers.map((c) => c.Format).join('+'),
    request.BootMode ?? 'boot mode left to VM Import',
    [request.Platform, request.Architecture].filter(Boolean).join(' '),
  ].filter((part) => part !== '');
  return ` (${parts.join(', ')})`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
