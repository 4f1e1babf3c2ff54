// bench/check: 200 small images (1-8 MiB; raw, qcow2, vmdk, vhd, vhdx; some with GPT or MBR) checked by
// checkMany (one pool task per file, every core) against a plain `for (f of files) await check(f)` loop on the
// main thread, in the same run: each a fresh node process, median of 3, alternating who goes first; prints both,
// the ratio, peak RSS, and whether the two gave the same outcomes.
// Run: npm run build && node bench/check.mjs [count]
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, median, sh, table, timed } from './common.mjs';

const HERE = fileURLToPath(import.meta.url);
const RUNS = 3;

if (process.argv[2] === '--child') await child(process.argv[3], process.argv.slice(4));
else await main(Number(process.argv[2] ?? 200));

async function main(count) {
  const dir = mkdtempSync(join(tmpdir(), 'diskport-bench-check-'));
  try {
    const files = makeImages(dir, count);
    const runs = { pool: [], loop: [] };
    const run = (mode) => {
      const result = timed('node', [HERE, '--child', mode, ...files]);
      runs[mode].push({ ...result, ...JSON.parse(result.stdout) });
    };
    // One untimed run of each loads node, the modules and the images into the page cache for both.
    run('pool');
    run('loop');
    runs.pool.length = 0;
    runs.loop.length = 0;
    for (let i = 0; i < RUNS; i++) for (const mode of i % 2 === 0 ? ['pool', 'loop'] : ['loop', 'pool']) run(mode);

    const digests = new Set([...runs.pool, ...runs.loop].map((r) => r.digest));
    const summary = (mode) => ({
      seconds: median(runs[mode].map((r) => r.seconds)),
      process: median(runs[mode].map((r) => r.process)),
      rss: Math.max(...runs[mode].map((r) => r.rssMiB)),
      failed: runs[mode][0].failed,
    });
    const pool = summary('pool');
    const loop = summary('loop');
    console.log(`${count} images, ${availableParallelism()} cores; ratio = loop time / checkMany time (higher is better for the pool)`);
    console.log(
      table([
        ['mode', 'check s', 'process s', 'images/s', 'peak RSS MiB', 'error outcomes'],
        ['checkMany (pool)', pool.seconds.toFixed(3), pool.process.toFixed(3), (count / pool.seconds).toFixed(0), pool.rss.toFixed(0), pool.failed],
        ['loop on main thread', loop.seconds.toFixed(3), loop.process.toFixed(3), (count / loop.seconds).toFixed(0), loop.rss.toFixed(0), loop.failed],
      ]),
    );
    console.log(`ratio ${(loop.seconds / pool.seconds).toFixed(2)}x (whole processes: ${(loop.process / pool.process).toFixed(2)}x)`);
    console.log(`same outcomes in every run: ${digests.size === 1 ? 'yes' : 'NO'}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Times one way of checking every file; prints seconds, the process's, and a digest of the outcomes. */
async function child(mode, files) {
  const { check } = await import('../dist/check.js');
  const { checkMany } = await import('../dist/workers/check-many.js');
  const started = performance.now();
  let outcomes;
  if (mode === 'pool') {
    outcomes = await checkMany(files);
  } else {
    outcomes = [];
    for (const file of files) {
      try {
        outcomes.push({ file, report: await check(file) });
      } catch (error) {
        outcomes.push({ file, error: error.toJSON?.() ?? { code: 'INTERNAL', message: String(error), file } });
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const digest = createHash('sha256').update(JSON.stringify(outcomes)).digest('hex');
  const failed = outcomes.filter((o) => 'error' in o || o.report.error !== undefined).length;
  console.log(JSON.stringify({ seconds, process: performance.now() / 1000, digest, failed }));
}

/**
 * `count` images from six seeded raw bases (1-8 MiB; two GPT, two MBR, two bare), converted by qemu-img to
 * seven formats in turn: 42 distinct (base, format) pairs, repeated as separate files up to `count`.
 */
function makeImages(dir, count) {
  const MiB = 1024 * 1024;
  const bases = [8, 4, 3, 2, 1, 6].map((size, i) => {
    const path = join(dir, `base-${i}.raw`);
    sh('node', [join(ROOT, 'test', 'images', 'content.mjs'), String(100 + i), String(size * MiB), path]);
    // The seeded content may put anything in the first and last sectors: zap them before writing a table.
    if (i < 2) {
      sh('sgdisk', ['--zap-all', path]);
      sh('sgdisk', ['-n', '1:2048:+1M', '-t', '1:EF00', '-n', '2:0:0', '-t', '2:8300', path]);
    } else if (i < 4) {
      sh('sh', ['-c', `printf 'label: dos\\nstart=2048, type=83, bootable\\n' | sfdisk -q --wipe always '${path}'`]);
    }
    return path;
  });
  const formats = [
    { ext: 'raw', args: ['-O', 'raw'] },
    { ext: 'qcow2', args: ['-O', 'qcow2'] },
    { ext: 'vmdk', args: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'] },
    { ext: 'vmdk', args: ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'] },
    { ext: 'vhd', args: ['-O', 'vpc', '-o', 'subformat=dynamic,force_size=on'] },
    { ext: 'vhd', args: ['-O', 'vpc', '-o', 'subformat=fixed,force_size=on'] },
    { ext: 'vhdx', args: ['-O', 'vhdx'] },
  ];
  const files = [];
  for (let i = 0; i < count; i++) {
    const format = formats[i % formats.length];
    const file = join(dir, `image-${String(i).padStart(3, '0')}.${format.ext}`);
    sh('qemu-img', ['convert', '-f', 'raw', ...format.args, bases[i % bases.length], file]);
    files.push(file);
  }
  for (const base of bases) rmSync(base);
  return files;
}
