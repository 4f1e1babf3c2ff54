// bench/inspect: 2 TiB sparse images (a little data at 1 TiB). For each format: bytes diskport reads to
// inspect it, the library inspect() time against a `qemu-img info` process, and the `diskport inspect` process
// against a bare `node -e 0` start. Run: npm run build && node bench/inspect.mjs
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from '../dist/index.js';
import { CLI, OUT, median, sh, table, timed } from './common.mjs';

const RUNS = 15;
const images = [
  { name: 'qcow2', create: ['-f', 'qcow2'], size: '2T', qemu: 'qcow2' },
  { name: 'vhdx', create: ['-f', 'vhdx'], size: '2T', qemu: 'vhdx' },
  { name: 'vmdk monolithicSparse', create: ['-f', 'vmdk', '-o', 'subformat=monolithicSparse'], size: '2T', qemu: 'vmdk' },
  { name: 'vmdk streamOptimized', create: ['-f', 'vmdk', '-o', 'subformat=streamOptimized'], size: '2T', qemu: 'vmdk', noWrite: true },
  { name: 'vhd dynamic (max 2040 GiB)', create: ['-f', 'vpc', '-o', 'subformat=dynamic,force_size=on'], size: '2040G', qemu: 'vpc' },
];

const nodeStart = median(Array.from({ length: RUNS }, () => timed('node', ['-e', '0']).seconds));
const rows = [['image', 'virtual', 'bytes read', 'inspect() ms', 'qemu-img info ms', 'ratio', 'CLI ms', 'CLI - node ms']];
for (const image of images) {
  const path = join(OUT, `big-${image.name.split(' ').join('-')}.img`);
  rmSync(path, { force: true });
  sh('qemu-img', ['create', ...image.create, path, image.size]);
  // streamOptimized files are append-only to qemu: they cannot be written in place
  if (!image.noWrite) sh('qemu-io', ['-f', image.qemu, '-c', 'write -P 0xab 1T 64k', path]);

  const report = await inspect(path);
  const libraryTimes = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    await inspect(path);
    libraryTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  const library = median(libraryTimes);
  const qemu = median(Array.from({ length: RUNS }, () => timed('qemu-img', ['info', '-f', image.qemu, path]).seconds * 1000));
  const cli = median(Array.from({ length: RUNS }, () => timed('node', [CLI, 'inspect', '--json', path]).seconds * 1000));
  rows.push([
    image.name,
    report.virtualSize,
    report.bytesRead,
    library.toFixed(2),
    qemu.toFixed(2),
    `${(qemu / library).toFixed(1)}x`,
    cli.toFixed(1),
    (cli - nodeStart * 1000).toFixed(1),
  ]);
  rmSync(path, { force: true });
}
console.log(`node -e 0: ${(nodeStart * 1000).toFixed(1)} ms (median of ${RUNS})`);
console.log(table(rows));
