import { inspect, type InspectReport } from '../inspect.js';
import type { CommandOptions } from './main.js';

export async function runInspect(file: string, options: CommandOptions): Promise<void> {
  const report = await inspect(file, { format: options.format, allowOutsideFolder: options.allowOutsideFolder });
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : humanTable(report));
}

function humanTable(report: InspectReport): string {
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
  for (const problem of report.partitionProblems) rows.push(['problem', `${problem.code}: ${problem.message}`]);
  for (const [key, value] of Object.entries(report.details)) {
    if (value !== null && typeof value !== 'object') rows.push([key, String(value)]);
  }
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value}\n`).join('');
}

function sizeText(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 'bytes';
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return unit === 'bytes' ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 2 : 1)} ${unit} (${bytes} bytes)`;
}

function partitionText(report: InspectReport): string {
  if (report.partitions === null) return 'not read (a pipe)';
  if (report.partitionTable === null) return 'no partition table';
  const list = report.partitions.map((p) => `${p.index}:${p.typeName ?? p.type}@${p.start}`).join(', ');
  return `${report.partitionTable.toUpperCase()}, ${report.partitions.length}: ${list}`;
}
