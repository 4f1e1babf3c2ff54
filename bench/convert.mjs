// bench/convert: `diskport convert` against `qemu-img convert` in the same run, on a 2 GiB raw image of mixed
// content (half zeros, compressible text, random blocks). Prints for each direction both times, the ratio
// (qemu-img time / diskport time: higher is better for diskport), peak RSS and output sizes, checks each output with
// `qemu-img compare`, and shows how streamOptimized speed grows with --workers.
// Run: npm run build && node bench/convert.mjs [GiB] [runs] [only: a direction's text, e.g. vhd]
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, OUT, median, sh, table, timed } from './common.mjs';

const GiB = 1024 ** 3;
const size = Math.round(Number(process.argv[2] ?? 2) * GiB);
const RUNS = Number(process.argv[3] ?? 3);
/** Only the directions whose name holds this text (and no scaling table unless it says "scaling"). */
const ONLY = process.argv[4];
const source = join(OUT, `convert-mixed-${size}.raw`);
if (!existsSync(source) || statSync(source).size !== size) makeMixed(source, size);
const qcow2 = join(OUT, `convert-mixed-${size}.qcow2`);
if (!existsSync(qcow2)) sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', source, qcow2]);

const directions = [
  { name: 'raw -> vmdk streamOptimized', input: source, inFormat: 'raw', ours: ['--to', 'vmdk'], qemu: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], qemuFormat: 'vmdk' },
  { name: 'qcow2 -> vmdk streamOptimized', input: qcow2, inFormat: 'qcow2', ours: ['--to', 'vmdk'], qemu: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], qemuFormat: 'vmdk' },
  { name: 'raw -> vmdk monolithicSparse', input: source, inFormat: 'raw', ours: ['--to', 'vmdk', '--subformat', 'monolithicSparse'], qemu: ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'], qemuFormat: 'vmdk' },
  { name: 'raw -> vhd dynamic', input: source, inFormat: 'raw', ours: ['--to', 'vhd', '--subformat', 'dynamic'], qemu: ['-O', 'vpc', '-o', 'subformat=dynamic,force_size=on'], qemuFormat: 'vpc' },
  { name: 'raw -> vhd fixed', input: source, inFormat: 'raw', ours: ['--to', 'vhd', '--subformat', 'fixed'], qemu: ['-O', 'vpc', '-o', 'subformat=fixed,force_size=on'], qemuFormat: 'vpc' },
  { name: 'raw -> vhdx dynamic', input: source, inFormat: 'raw', ours: ['--to', 'vhdx'], qemu: ['-O', 'vhdx'], qemuFormat: 'vhdx' },
  { name: 'qcow2 -> raw', input: qcow2, inFormat: 'qcow2', ours: ['--to', 'raw'], qemu: ['-O', 'raw'], qemuFormat: 'raw' },
];

const rows = [['direction', 'diskport s', 'qemu-img s', 'ratio', 'diskport RSS MiB', 'qemu RSS MiB', 'diskport size', 'qemu size', 'size diff', 'compare']];
for (const direction of directions.filter((d) => ONLY === undefined || d.name.includes(ONLY))) {
  try {
    rows.push(measure(direction));
  } catch (error) {
    rows.push([direction.name, `failed: ${String(error.message).split('\n')[0]}`, '', '', '', '', '', '', '', '']);
  }
}
console.log(`guest size ${size} bytes (${(size / GiB).toFixed(2)} GiB), median of the runs shown per direction`);
console.log(table(rows));

if (ONLY !== undefined && !'scaling'.includes(ONLY)) process.exit(0);
console.log('\nstreamOptimized scaling with --workers (raw source):');
const scaling = [['workers', 'seconds', 'MB/s of guest data', 'speed-up vs 1']];
let one;
for (const workers of [1, 2, 4]) {
  const output = join(OUT, 'convert-scaling.vmdk');
  const seconds = median(Array.from({ length: Math.max(1, RUNS - 1) }, () => {
    rmSync(output, { force: true });
    sh('sync', []);
    return timed('node', [CLI, 'convert', '--to', 'vmdk', '--workers', String(workers), source, output]).seconds;
  }));
  one ??= seconds;
  scaling.push([workers, seconds.toFixed(2), (size / seconds / 1e6).toFixed(0), (one / seconds).toFixed(2)]);
  rmSync(output, { force: true });
}
console.log(table(scaling));

function measure(direction) {
  const ours = join(OUT, 'convert-ours.out');
  const theirs = join(OUT, 'convert-qemu.out');
  // Each run starts with no dirty pages from the one before (sync, untimed): writeback of 1 GiB would otherwise
  // land in whichever tool runs next.
  const runOurs = () => {
    rmSync(ours, { force: true });
    sh('sync', []);
    return timed('node', [CLI, 'convert', ...direction.ours, direction.input, ours]);
  };
  const runQemu = () => {
    rmSync(theirs, { force: true });
    sh('sync', []);
    return timed('qemu-img', ['convert', '-f', direction.inFormat, ...direction.qemu, direction.input, theirs]);
  };
  warm(direction.input);
  const oursRuns = [];
  const qemuRuns = [];
  // The two take turns going first: a run's cost depends on what the page cache went through just before it.
  for (let run = 0; run < RUNS; run++) {
    for (const go of run % 2 === 0 ? [runQemu, runOurs] : [runOurs, runQemu]) {
      if (go === runQemu) qemuRuns.push(runQemu());
      else oursRuns.push(runOurs());
    }
  }
  const compare = sh('qemu-img', ['compare', '-f', direction.inFormat, '-F', direction.qemuFormat, direction.input, ours]).trim();
  const oursSize = statSync(ours).blocks * 512;
  const qemuSize = statSync(theirs).blocks * 512;
  const oursSeconds = median(oursRuns.map((run) => run.seconds));
  const qemuSeconds = median(qemuRuns.map((run) => run.seconds));
  rmSync(ours, { force: true });
  rmSync(theirs, { force: true });
  return [
    direction.name,
    oursSeconds.toFixed(2),
    qemuSeconds.toFixed(2),
    (qemuSeconds / oursSeconds).toFixed(2),
    Math.max(...oursRuns.map((run) => run.rssMiB)).toFixed(0),
    Math.max(...qemuRuns.map((run) => run.rssMiB)).toFixed(0),
    mib(oursSize),
    mib(qemuSize),
    `${(((oursSize - qemuSize) / Math.max(qemuSize, 1)) * 100).toFixed(1)}%`,
    compare === 'Images are identical.' ? 'identical' : compare,
  ];
}

/** Reads the input once so both tools find it in the page cache, whichever runs first. */
function warm(path) {
  spawnSync('dd', [`if=${path}`, 'of=/dev/null', 'bs=4M'], { stdio: 'ignore' });
}

function mib(bytes) {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/**
 * 2 GiB in 1 MiB-ish runs from a fixed seed: half zeros (left as holes), a quarter English-like text (words drawn
 * at random: deflates about 3:1, like logs and binaries do), a quarter random bytes (incompressible).
 */
function makeMixed(path, total) {
  let state = 20261123;
  const random = () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state;
  };
  const words = 'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no what more up out can said about into them time some could only other new like then these two may first any very after my most made over did years where way people see also such because through back much before'.split(' ');
  const fd = openSync(path, 'w');
  ftruncateSync(fd, total);
  const block = Buffer.alloc(1024 * 1024);
  for (let offset = 0; offset < total; offset += block.length) {
    const kind = random() % 4; // 0, 1 zeros; 2 text; 3 random
    if (kind < 2) continue;
    if (kind === 2) {
      let at = 0;
      while (at < block.length) at += block.write(`${words[random() % words.length]}${random() % 9 === 0 ? '.\n' : ' '}`, at, 'latin1');
    } else {
      for (let at = 0; at + 4 <= block.length; at += 4) block.writeUInt32LE(random(), at);
    }
    writeSync(fd, block, 0, Math.min(block.length, total - offset), offset);
  }
  closeSync(fd);
}
