import { assertVerified, inspect, type DiskReport, type InspectReport, type OvaReport } from '../inspect.js';
import type { CommandOptions } from './main.js';
import { sizeText, table } from './text.js';

export async function runInspect(file: string, options: CommandOptions): Promise<void> {
  const report = await inspect(file, {
    format: options.format,
    allowOutsideFolder: options.allowOutsideFolder,
    verify: options.verify,
  });
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : humanText(report));
  assertVerified(report);
}

function humanText(report: InspectReport): string {
  if (report.format !== 'ova') return table(diskRows(report));
  return [table(ovaRows(report)), ...report.disks.map((disk, i) => `\ndisk ${i + 1}: ${disk.href}\n${table(diskRows(disk), '  ')}`)].join('');
}

function ovaRows(report: OvaReport): [string, string][] {
  const { ovf } = report;
  const rows: [string, string][] = [
    ['file', report.file],
    ['format', `ova (OVF ${ovf.version}, descriptor ${report.ovfName})`],
    ['name', ovf.name ?? ovf.product ?? 'not given'],
    ['guest OS', [ovf.osType, ovf.osDescription].filter(Boolean).join(', ') || 'not given'],
    ['firmware', ovf.firmware ?? 'not given'],
    ['disks', `${report.disks.length}, ${sizeText(report.virtualSize)} in all`],
    ['file size', report.fileSize === null ? 'unknown (pipe)' : sizeText(report.fileSize)],
    ['manifest', report.manifest === null ? 'none' : `${report.manifest.name} (${report.manifest.algorithms.join(', ')}, ${report.manifest.files} files)`],
  ];
  if (report.verification !== undefined) rows.push(['verified', verificationText(report)]);
  if (report.certificate !== null) rows.push(['certificate', `${report.certificate} (not checked)`]);
  return rows;
}

function verificationText(report: OvaReport): string {
  const { checked, mismatches, missing } = report.verification!;
  if (mismatches.length === 0 && missing.length === 0) return `${checked.length} files match the manifest`;
  return [...mismatches.map((m) => `${m.name} DIFFERS`), ...missing.map((name) => `${name} missing`)].join(', ');
}

function diskRows(report: DiskReport): [string, string][] {
  const rows: [string, string][] = [
    ['file', report.file],
    ['format', report.subformat === null ? report.format : `${report.format} (${report.subformat})`],
    ['virtual size', sizeText(report.virtualSize)],
    ['allocated', report.allocatedSize === null ? 'unknown' : sizeText(report.allocatedSize)],
    ['file size', report.fileSize === null ? 'unknown (pipe)' : sizeText(report.fileSize)],
    ['partitions', partitionText(report)],
    ['boot mode', report.bootMode ?? 'none found'],
    ['file systems', report.filesystems === null ? 'not read (a pipe)' : report.filesystems.join(', ') || 'none found'],
  ];
  const loaders = (report.partitions ?? []).flatMap((p) => p.esp?.loaders ?? []);
  if (loaders.length > 0) rows.push(['EFI loaders', loaders.map((l) => `${l.path} (${l.architecture ?? 'unknown'})`).join(', ')]);
  for (const partition of report.partitions ?? []) {
    const { linux } = partition;
    if (linux === undefined) continue;
    const kernels = linux.kernels.length > 0 ? `kernels ${linux.kernels.join(', ')}` : 'no kernel found';
    rows.push(['Linux', `${linux.prettyName ?? linux.id ?? 'unknown release'} on partition ${partition.index}, ${kernels}`]);
  }
  for (const problem of report.partitionProblems) rows.push(['problem', `${problem.code}: ${problem.message}`]);
  for (const [key, value] of Object.entries(report.details)) {
    if (value !== null && typeof value !== 'object') rows.push([key, String(value)]);
  }
  return rows;
}

function partitionText(report: DiskReport): string {
  if (report.partitions === null) return 'not read (a pipe)';
  if (report.partitionTable === null) return 'no partition table';
  const list = report.partitions.map((p) => `${p.index}:${p.typeName ?? p.type}@${p.start}`).join(', ');
  return `${report.partitionTable.toUpperCase()}, ${report.partitions.length}: ${list}`;
}
