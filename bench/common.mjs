// Shared bench helpers: timed child processes with peak RSS (GNU time), medians, and a table printer.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = join(ROOT, 'bench', 'out');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
mkdirSync(OUT, { recursive: true });

if (!existsSync(CLI)) throw new Error('build first: npm run build');
if (!existsSync('/usr/bin/time')) throw new Error('GNU time is needed for peak RSS: apt-get install time');

/** Runs a command; returns wall seconds and peak RSS in MiB (from GNU time). */
export function timed(command, args, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], { encoding: 'utf8', ...options });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  const rssKiB = Number(result.stderr.trim().split('\n').pop());
  return { seconds, rssMiB: rssKiB / 1024, stdout: result.stdout };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export function sh(command, args) {
  return execFileSync(command, args, { encoding: 'utf8' });
}

export function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  return rows.map((row) => row.map((cell, column) => String(cell).padEnd(widths[column])).join('  ')).join('\n');
}
