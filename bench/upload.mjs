// bench/upload: a 2 GiB file uploaded by `diskport upload` and by `aws s3 cp` (with --endpoint-url), in the same
// run, to (a) Ceph RGW on loopback (test/s3/rgw.sh starts it; root and the Ceph packages needed) and (b) the
// minimal discard endpoint in bench/s3-discard.mjs, which checks each part and throws it away, so the client
// itself is measured. Each upload is a fresh process under GNU time: wall time, MB/s, CPU seconds (user + sys)
// per GiB, peak RSS; median of --runs, alternating who goes first. Then convert-while-upload: a qcow2 of mixed
// content (zeros, text, random) of the same size uploaded as streamOptimized VMDK with `upload --as vmdk`, next
// to `diskport convert` alone and the upload of its output alone (discard endpoint: the client's pipeline).
// Run: npm run build && node bench/upload.mjs [--size 2G] [--runs 1] [--only rgw|discard|convert]
import { execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CLI, OUT, ROOT, median, table } from './common.mjs';
import { startDiscardEndpoint } from './s3-discard.mjs';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RGW_SCRIPT = join(ROOT, 'test', 's3', 'rgw.sh');
const BUCKET = 'bench';
// diskport's defaults, for the memory goal: (concurrency + 1) x part size of buffers, plus Node and the SDK.
const CONCURRENCY = 8;
const PART_SIZE = 16 * MiB;

const size = parseSize(option('--size') ?? '2G');
const runs = Number(option('--runs') ?? '1');
const only = option('--only');
const file = join(OUT, 'upload.bin');

await main();

async function main() {
  if (only !== 'convert') makeFile(file, size);
  const rows = [['server', 'client', 'wall s', 'MB/s', 'CPU s/GiB', 'peak RSS MiB', 'ratio (aws time / diskport time)']];
  const verdicts = [];
  try {
    if (only === undefined || only === 'discard') {
      const discard = await startDiscardEndpoint();
      try {
        const env = { ...process.env, AWS_ACCESS_KEY_ID: 'BENCH', AWS_SECRET_ACCESS_KEY: 'bench-secret', AWS_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'us-east-1' };
        verdicts.push(...(await compare('discard endpoint', discard.endpoint, env, rows, 1.5)));
        if (discard.stats.rejected > 0) throw new Error(`the discard endpoint rejected ${discard.stats.rejected} requests`);
      } finally {
        await discard.close();
      }
    }
    if (only === undefined || only === 'rgw') verdicts.push(...(await withRgw((endpoint, env) => compare('Ceph RGW 16', endpoint, env, rows, 1.0))));
  } finally {
    rmSync(file, { force: true });
  }
  if (rows.length > 1) {
    console.log(`${(size / GiB).toFixed(2)} GiB of random bytes, page cache warm, median of ${runs}; diskport: ${CONCURRENCY} x ${PART_SIZE / MiB} MiB parts (defaults), aws: CLI defaults`);
    console.log(table(rows));
  }
  if (only === undefined || only === 'convert') verdicts.push(await convertWhileUploading());
  console.log(verdicts.join('\n'));
}

/** upload --as vmdk against convert alone and the upload of the converted file alone. */
async function convertWhileUploading() {
  const raw = join(OUT, 'upload-mixed.raw');
  const qcow2 = join(OUT, 'upload-mixed.qcow2');
  const vmdk = join(OUT, 'upload-mixed.vmdk');
  execFileSync('node', [join(ROOT, 'test', 'images', 'content.mjs'), '11', String(size), raw]);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  rmSync(raw);
  const discard = await startDiscardEndpoint();
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'BENCH', AWS_SECRET_ACCESS_KEY: 'bench-secret', AWS_REGION: 'us-east-1' };
  try {
    const converting = await timed('node', [CLI, 'convert', qcow2, vmdk, '--force'], env);
    const uploading = await timed('node', [CLI, 'upload', vmdk, `s3://${BUCKET}/converted.vmdk`, '--endpoint-url', discard.endpoint], env);
    const both = await timed('node', [CLI, 'upload', qcow2, `s3://${BUCKET}/as.vmdk`, '--as', 'vmdk', '--endpoint-url', discard.endpoint], env);
    const slower = Math.max(converting.seconds, uploading.seconds);
    const rows = [
      ['step', 'wall s', 'CPU s', 'peak RSS MiB'],
      ['convert alone (qcow2 -> streamOptimized VMDK file)', converting.seconds.toFixed(2), converting.cpu.toFixed(2), converting.rssMiB.toFixed(0)],
      ['upload alone (of that VMDK)', uploading.seconds.toFixed(2), uploading.cpu.toFixed(2), uploading.rssMiB.toFixed(0)],
      ['upload --as vmdk (convert while uploading)', both.seconds.toFixed(2), both.cpu.toFixed(2), both.rssMiB.toFixed(0)],
    ];
    console.log(`\nconvert while uploading: ${(size / GiB).toFixed(2)} GiB qcow2 of mixed content, discard endpoint`);
    console.log(table(rows));
    const ratio = both.seconds / slower;
    return `convert while uploading: ${ratio.toFixed(2)} x the slower step (goal <= 1.1): ${ratio <= 1.1 ? 'met' : 'NOT met'}`;
  } finally {
    await discard.close();
    rmSync(qcow2, { force: true });
    rmSync(vmdk, { force: true });
  }
}

/** Uploads with both clients (alternating order) and adds their rows; returns the goal verdicts. */
async function compare(serverName, endpoint, env, rows, ratioGoal) {
  const ours = [];
  const theirs = [];
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? ['aws', 'diskport'] : ['diskport', 'aws'];
    for (const client of order) {
      if (client === 'aws') theirs.push(await timed('aws', ['s3', 'cp', '--only-show-errors', file, `s3://${BUCKET}/aws.bin`, '--endpoint-url', endpoint], env));
      else ours.push(await timed('node', [CLI, 'upload', file, `s3://${BUCKET}/diskport.bin`, '--endpoint-url', endpoint], env));
    }
  }
  const a = summarise(ours);
  const b = summarise(theirs);
  const ratio = b.seconds / a.seconds;
  rows.push([serverName, 'diskport', a.seconds.toFixed(2), mbps(a.seconds), a.cpuPerGiB.toFixed(2), a.rss.toFixed(0), ratio.toFixed(2)]);
  rows.push([serverName, 'aws s3 cp', b.seconds.toFixed(2), mbps(b.seconds), b.cpuPerGiB.toFixed(2), b.rss.toFixed(0), '']);
  const rssLimit = (CONCURRENCY * PART_SIZE) / MiB + 100;
  return [
    `${serverName}: speed ratio ${ratio.toFixed(2)} (goal >= ${ratioGoal}): ${ratio >= ratioGoal ? 'met' : 'NOT met'}`,
    `${serverName}: CPU ${a.cpuPerGiB.toFixed(2)} s/GiB vs the CLI's ${b.cpuPerGiB.toFixed(2)}: ${a.cpuPerGiB < b.cpuPerGiB ? 'met' : 'NOT met'}`,
    `${serverName}: peak RSS ${a.rss.toFixed(0)} MiB (goal <= ${rssLimit} MiB): ${a.rss <= rssLimit ? 'met' : 'NOT met'}`,
  ];
}

function summarise(results) {
  return {
    seconds: median(results.map((result) => result.seconds)),
    cpuPerGiB: median(results.map((result) => result.cpu)) / (size / GiB),
    rss: median(results.map((result) => result.rssMiB)),
  };
}

function mbps(seconds) {
  return (size / 1e6 / seconds).toFixed(0);
}

/** A child under GNU time, without blocking this process (the discard endpoint runs here). */
function timed(command, args, env) {
  const report = join(OUT, 'upload-time.txt');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-o', report, '-f', '%M %U %S', command, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (status !== 0) return reject(new Error(`${command} ${args.join(' ')} failed: ${stderr}`));
      const [rssKiB, user, system] = readFileSync(report, 'utf8').trim().split('\n').pop().split(' ').map(Number);
      rmSync(report, { force: true });
      resolve({ seconds, rssMiB: rssKiB / 1024, cpu: user + system });
    });
  });
}

async function withRgw(work) {
  const dir = join(OUT, 'rgw');
  rmSync(dir, { recursive: true, force: true });
  const output = execFileSync('bash', [RGW_SCRIPT, 'start', dir, String(await freePort()), String(await freePort())], { encoding: 'utf8' });
  try {
    const { endpoint, accessKeyId, secretAccessKey } = JSON.parse(output);
    const env = { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'us-east-1' };
    execFileSync('aws', ['s3', 'mb', `s3://${BUCKET}`, '--endpoint-url', endpoint], { env, stdio: 'ignore' });
    return await work(endpoint, env);
  } finally {
    execFileSync('bash', [RGW_SCRIPT, 'stop', dir]);
  }
}

function makeFile(path, bytes) {
  const fd = openSync(path, 'w');
  const piece = Buffer.allocUnsafe(16 * MiB);
  for (let written = 0; written < bytes; written += piece.length) {
    randomFillSync(piece);
    writeSync(fd, piece, 0, Math.min(piece.length, bytes - written));
  }
  closeSync(fd);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function option(name) {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

function parseSize(text) {
  const match = /^(\d+)([KMG]?)$/i.exec(text);
  if (match === null) throw new Error(`--size takes bytes or a K/M/G count, not ${text}`);
  return Number(match[1]) * { '': 1, K: 1024, M: MiB, G: GiB }[match[2].toUpperCase()];
}
