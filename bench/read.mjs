// bench/read: stream the guest bytes of a 1 GiB mixed-content image (zeros, text, random) in each format to a
// raw file, diskport (`diskport cat -o`) against `qemu-img convert -O raw`, in the same run; prints both, the
// ratio and peak RSS, and checks the two outputs are identical. Run: npm run build && node bench/read.mjs [GiB]
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, OUT, ROOT, median, sh, table, timed } from './common.mjs';

const GiB = 1024 ** 3;
const size = Math.round(Number(process.argv[2] ?? 1) * GiB);
const RUNS = 4;
const base = join(OUT, 'read-base.raw');
sh('node', [join(ROOT, 'test', 'images', 'content.mjs'), '7', String(size), base]);

const formats = [
  { name: 'raw', qemu: 'raw', args: [] },
  { name: 'qcow2', qemu: 'qcow2', args: ['-O', 'qcow2'] },
  { name: 'qcow2 compressed', qemu: 'qcow2', args: ['-c', '-O', 'qcow2'] },
  { name: 'vmdk streamOptimized', qemu: 'vmdk', args: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'] },
  { name: 'vmdk monolithicSparse', qemu: 'vmdk', args: ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'] },
  { name: 'vhd dynamic', qemu: 'vpc', args: ['-O', 'vpc', '-o', 'subformat=dynamic,force_size=on'] },
  { name: 'vhdx', qemu: 'vhdx', args: ['-O', 'vhdx'] },
];

const rows = [['format', 'diskport s', 'qemu-img s', 'ratio', 'diskport MiB/s', 'diskport peak RSS MiB', 'qemu peak RSS MiB', 'same']];
for (const format of formats) {
  try {
    rows.push(measure(format));
  } catch (error) {
    rows.push([format.name, `failed: ${error.message.split('\n')[0]}`, '', '', '', '', '', '']);
  }
}
rmSync(base, { force: true });
console.log(`guest size ${size} bytes; ratio = qemu-img time / diskport time (higher is better for diskport)`);
console.log(table(rows));

function measure(format) {
  const input = format.name === 'raw' ? base : join(OUT, `read-${format.name.replace(/ /g, '-')}.img`);
  if (format.name !== 'raw') sh('qemu-img', ['convert', '-f', 'raw', ...format.args, base, input]);
  const ours = join(OUT, 'read-ours.raw');
  const theirs = join(OUT, 'read-qemu.raw');
  const oursRuns = [];
  const qemuRuns = [];
  const runQemu = () => qemuRuns.push(timed('qemu-img', ['convert', '-f', format.qemu, '-O', 'raw', input, theirs]));
  const runOurs = () => oursRuns.push(timed('node', [CLI, 'cat', '-f', format.name.split(' ')[0], input, '-o', ours]));
  // One untimed run of each first: both then find the input in the page cache, whoever goes first.
  sh('sync', []);
  runQemu();
  runOurs();
  qemuRuns.length = 0;
  oursRuns.length = 0;
  for (let run = 0; run < RUNS; run++) {
    // Each run starts with no dirty pages from the last one (write-back would bill the next runner),
    // and the two take turns going first.
    for (const go of run % 2 === 0 ? [runQemu, runOurs] : [runOurs, runQemu]) {
      rmSync(go === runQemu ? theirs : ours, { force: true });
      sh('sync', []);
      go();
    }
  }
  const same = spawnSync('cmp', ['-s', ours, theirs]).status === 0;
  const oursSeconds = median(oursRuns.map((run) => run.seconds));
  const qemuSeconds = median(qemuRuns.map((run) => run.seconds));
  const row = [
    format.name,
    oursSeconds.toFixed(2),
    qemuSeconds.toFixed(2),
    `${(qemuSeconds / oursSeconds).toFixed(2)}x`,
    (size / 1024 ** 2 / oursSeconds).toFixed(0),
    Math.max(...oursRuns.map((run) => run.rssMiB)).toFixed(0),
    Math.max(...qemuRuns.map((run) => run.rssMiB)).toFixed(0),
    same ? 'yes' : 'NO',
  ];
  rmSync(ours, { force: true });
  rmSync(theirs, { force: true });
  if (format.name !== 'raw') rmSync(input, { force: true });
  return row;
}
