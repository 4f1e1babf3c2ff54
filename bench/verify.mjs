// bench/verify: manifest hashing of one big entry. hashFileRange over a whole 1 GiB file (the worker reads and
// hashes it, double-buffered) against `openssl dgst`, sha256 and sha1, in the same run, page cache warm; each a
// fresh process, median of 3, alternating who goes first; prints both, the ratio, peak RSS, and whether the
// digests agree. Run: npm run build && node bench/verify.mjs [--size 1G]   (size in bytes, or with K/M/G)
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OUT, ROOT, median, sh, table, timed } from './common.mjs';

const HERE = fileURLToPath(import.meta.url);
const RUNS = 3;

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4]);
else main(parseSize(option('--size') ?? '1G'));

function main(size) {
  const file = join(OUT, 'verify.raw');
  sh('node', [join(ROOT, 'test', 'images', 'content.mjs'), '9', String(size), file]);
  try {
    const rows = [
      ['digest', 'diskport call s', 'diskport process s', 'openssl s', 'ratio call', 'ratio process', 'call MiB/s', 'diskport peak RSS MiB', 'openssl peak RSS MiB', 'same'],
    ];
    for (const algorithm of ['sha256', 'sha1']) rows.push(measure(algorithm, file, size));
    console.log(`${size} bytes, page cache warm; ratio = openssl process time / diskport time (higher is better for diskport)`);
    console.log('call = one hashFileRange, pool start included; process = the whole node process (node start, imports, call)');
    console.log(table(rows));
  } finally {
    rmSync(file, { force: true });
  }
}

function measure(algorithm, file, size) {
  const ours = [];
  const theirs = [];
  const runOurs = () => {
    const result = timed('node', [HERE, '--child', algorithm, file]);
    ours.push({ ...result, ...JSON.parse(result.stdout) });
  };
  const runTheirs = () => {
    const result = timed('openssl', ['dgst', `-${algorithm}`, '-r', file]);
    theirs.push({ ...result, digest: result.stdout.split(' ')[0] });
  };
  // One untimed run of each: the file is then in the page cache for both, whoever goes first.
  runOurs();
  runTheirs();
  ours.length = 0;
  theirs.length = 0;
  for (let run = 0; run < RUNS; run++) for (const go of run % 2 === 0 ? [runOurs, runTheirs] : [runTheirs, runOurs]) go();
  const callSeconds = median(ours.map((r) => r.call));
  const processSeconds = median(ours.map((r) => r.seconds));
  const theirsSeconds = median(theirs.map((r) => r.seconds));
  const digests = new Set([...ours, ...theirs].map((r) => r.digest));
  return [
    algorithm,
    callSeconds.toFixed(3),
    processSeconds.toFixed(3),
    theirsSeconds.toFixed(3),
    `${(theirsSeconds / callSeconds).toFixed(2)}x`,
    `${(theirsSeconds / processSeconds).toFixed(2)}x`,
    (size / 1024 ** 2 / callSeconds).toFixed(0),
    Math.max(...ours.map((r) => r.rssMiB)).toFixed(0),
    Math.max(...theirs.map((r) => r.rssMiB)).toFixed(0),
    digests.size === 1 ? 'yes' : 'NO',
  ];
}

/** One hashFileRange over the whole file; prints the digest and how long the call took. */
async function child(algorithm, file) {
  const { hashFileRange } = await import('../dist/workers/hash.js');
  const started = performance.now();
  const digest = await hashFileRange(file, 0, statSync(file).size, algorithm);
  console.log(JSON.stringify({ digest, call: (performance.now() - started) / 1000 }));
}

function option(name) {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(text);
  if (match === null) throw new Error(`--size: expected bytes or a number with K, M or G, not ${text}`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2].toUpperCase()];
  return Math.round(Number(match[1]) * unit);
}
