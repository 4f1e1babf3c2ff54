// bench/ova: the OVA targets in one run, on an OVA of --size GiB (default 20) built sparse in a temp folder, so
// nothing near that size is written: tar headers written here by hand, the disk a fixed VHD whose data is a hole
// (ftruncate) and whose footer comes from `qemu-img create -f vpc -o subformat=fixed`, plus a small OVF and a SHA256
// manifest placed before the disk (as ovftool packs them). Prints:
//  (a) `diskport inspect --json` of the file: bytes read (target < 1 MiB) and time, beside `tar -tvf` (the peer
//      that lists an OVA) and `qemu-img info` of the disk read in place inside the OVA;
//  (b) the OVA through a pipe (`cat ova | diskport inspect --json -`, `… check --verify --json -`): time, GiB/s
//      and peak RSS (target < 150 MiB), beside `cat ova | openssl dgst -sha256` (and `| sha256sum` with
//      --with-sha256sum: coreutils' own SHA-256 is ~4x slower than openssl's here);
//  (c) `diskport inspect --verify` of the file against `openssl dgst -sha256` of the file (target >= 0.9x).
// Run: npm run build && node bench/ova.mjs [--size GiB] [--runs N] [--with-sha256sum]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, median, sh, table, timed } from './common.mjs';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const sizeGiB = Number(option('--size') ?? 20);
const RUNS = Number(option('--runs') ?? 1); // for the passes over every byte; the quick ones run 5 times
const QUICK = 5;
if (!(sizeGiB > 0 && Number.isInteger(sizeGiB))) throw new Error('--size: a whole number of GiB');

const dir = mkdtempSync(join(tmpdir(), 'diskport-bench-ova-'));
try {
  main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function main() {
  const built = buildOva(sizeGiB * GiB);
  const { path, bytes } = built;
  console.log(`OVA ${path}: ${bytes} bytes (${(bytes / GiB).toFixed(2)} GiB), disk entry at ${built.dataAt}, ` +
    `manifest digest computed in ${built.digestSeconds.toFixed(1)} s`);
  const nodeStart = median(Array.from({ length: QUICK }, () => timed('node', ['-e', '0']).seconds));
  console.log(`node -e 0: ${ms(nodeStart)} ms (median of ${QUICK})\n`);

  // (a) -------------------------------------------------------------------------------------------------------
  const inspectRuns = Array.from({ length: QUICK }, () => timed('node', [CLI, 'inspect', '--json', path]));
  const report = JSON.parse(inspectRuns[0].stdout);
  const tarRuns = Array.from({ length: QUICK }, () => timed('tar', ['-tvf', path]));
  const inPlace = JSON.stringify({
    driver: 'vpc',
    file: { driver: 'raw', offset: built.dataAt, size: built.diskBytes, file: { driver: 'file', filename: path } },
  });
  const qemuRuns = Array.from({ length: QUICK }, () => timed('qemu-img', ['info', '--output=json', `json:${inPlace}`]));
  const qemuVirtual = JSON.parse(qemuRuns[0].stdout)['virtual-size'];
  console.log(`(a) listing the file (median of ${QUICK}; bytes read target < 1 MiB)`);
  console.log(table([
    ['command', 'ms', 'bytes read', 'virtual size', 'peak RSS MiB'],
    ['diskport inspect --json', ms(median(seconds(inspectRuns))), report.bytesRead, report.virtualSize, rss(inspectRuns)],
    ['tar -tvf', ms(median(seconds(tarRuns))), '-', '-', rss(tarRuns)],
    ['qemu-img info (disk in place)', ms(median(seconds(qemuRuns))), '-', qemuVirtual, rss(qemuRuns)],
  ]));
  console.log(`bytesRead < 1 MiB: ${report.bytesRead < MiB ? 'yes' : 'NO'}; virtual sizes agree: ${report.virtualSize === qemuVirtual ? 'yes' : 'NO'}\n`);

  // (b) and (c): passes over every byte, alternating who goes first ---------------------------------------------
  const passes = [
    { key: 'pipe inspect', run: () => piped(path, ['inspect', '--json', '-']) },
    { key: 'pipe check --verify', run: () => piped(path, ['check', '--verify', '--json', '-'], [0, 1]) },
    { key: 'pipe openssl', run: () => shell(`cat ${quote(path)} | openssl dgst -sha256 -r`) },
    ...(process.argv.includes('--with-sha256sum') ? [{ key: 'pipe sha256sum', run: () => shell(`cat ${quote(path)} | sha256sum`) }] : []),
    { key: 'file inspect --verify', run: () => timed('node', [CLI, 'inspect', '--verify', '--json', path]) },
    { key: 'file openssl', run: () => timed('openssl', ['dgst', '-sha256', '-r', path]) },
  ];
  // Reading a hole the first time fills the page cache with zero pages (the first pass paid ~2.5x here): one
  // untimed read first, so every pass below reads the same way.
  const warm = shell(`cat ${quote(path)} > /dev/null`);
  console.log(`first read of the sparse OVA (untimed warm-up, fills the page cache): ${warm.seconds.toFixed(1)} s\n`);
  const results = Object.fromEntries(passes.map((pass) => [pass.key, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const pass of run % 2 === 0 ? passes : [...passes].reverse()) results[pass.key].push(pass.run());
  }
  const best = (key) => median(seconds(results[key]));
  const row = (label, key) => [label, best(key).toFixed(2), (bytes / GiB / best(key)).toFixed(2), rss(results[key])];

  const inspected = JSON.parse(results['pipe inspect'][0].stdout);
  const checkedReport = JSON.parse(results['pipe check --verify'][0].stdout);
  const verification = checkedReport.inspect?.verification;
  const digest = built.diskDigest;
  const pipeDigest = results['pipe openssl'][0].stdout.split(' ')[0];
  console.log(`(b) through a pipe (${RUNS === 1 ? 'one run' : `median of ${RUNS}`}; peak RSS target < 150 MiB)`);
  console.log(table([
    ['command', 's', 'GiB/s', 'peak RSS MiB'],
    row('cat | diskport inspect --json -', 'pipe inspect'),
    row('cat | diskport check --verify --json -', 'pipe check --verify'),
    row('cat | openssl dgst -sha256', 'pipe openssl'),
    ...(results['pipe sha256sum'] === undefined ? [] : [row('cat | sha256sum', 'pipe sha256sum')]),
  ]));
  console.log(`pipe inspect: virtualSize ${inspected.virtualSize}, bytesRead ${inspected.bytesRead} (the whole OVA: ${inspected.bytesRead === bytes ? 'yes' : 'NO'})`);
  console.log(`pipe check --verify: findings ${checkedReport.findings.map((f) => f.code).join(', ') || 'none'}; ` +
    `checked ${verification?.checked.join(', ')}; mismatches ${verification?.mismatches.length}; ` +
    `UploadSize ${checkedReport.importImage?.ClientData.UploadSize} GiB`);
  console.log(`check --verify / openssl through the pipe: ${(best('pipe openssl') / best('pipe check --verify')).toFixed(2)}x (openssl time / ours)`);
  console.log(`peak RSS < 150 MiB: ${Math.max(rssOf(results['pipe inspect']), rssOf(results['pipe check --verify'])) < 150 ? 'yes' : 'NO'}; ` +
    `openssl's digest of the whole OVA: ${pipeDigest.slice(0, 16)}…\n`);

  const fileVerify = JSON.parse(results['file inspect --verify'][0].stdout);
  const ratio = best('file openssl') / best('file inspect --verify');
  console.log(`(c) --verify on the file (${RUNS === 1 ? 'one run' : `median of ${RUNS}`}; target >= 0.9x)`);
  console.log(table([
    ['command', 's', 'GiB/s', 'peak RSS MiB'],
    row('diskport inspect --verify --json', 'file inspect --verify'),
    row('openssl dgst -sha256', 'file openssl'),
  ]));
  console.log(`ratio ${ratio.toFixed(2)}x (openssl time / ours): ${ratio >= 0.9 ? 'meets' : 'misses'} the 0.9x target; ` +
    `disk digest matches the manifest: ${fileVerify.verification?.mismatches.length === 0 && fileVerify.verification?.checked.includes('big.vhd') ? 'yes' : 'NO'} (${digest.slice(0, 16)}…)`);
}

/** Writes the sparse OVA: OVF, manifest, then a fixed VHD of `size` bytes (a hole, then the footer). */
function buildOva(size) {
  const scratch = join(dir, 'footer.vhd');
  sh('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=fixed,force_size=on', scratch, String(size)]);
  const footer = Buffer.alloc(512);
  const vhd = openSync(scratch, 'r');
  readSync(vhd, footer, 0, 512, size);
  closeSync(vhd);
  rmSync(scratch);
  const diskBytes = size + 512;

  // The disk's digest: `size` zero bytes then the footer, hashed here from one zero buffer (no I/O).
  const started = process.hrtime.bigint();
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(16 * MiB);
  for (let done = 0; done < size; done += zeros.length) hash.update(zeros.subarray(0, Math.min(zeros.length, size - done)));
  hash.update(footer);
  const diskDigest = hash.digest('hex');
  const digestSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  const ovf = ovfText(size);
  const mf = `SHA256(big.ovf)= ${createHash('sha256').update(ovf).digest('hex')}\nSHA256(big.vhd)= ${diskDigest}\n`;
  const path = join(dir, 'big.ova');
  const fd = openSync(path, 'w');
  let at = 0;
  for (const [name, text] of [['big.ovf', ovf], ['big.mf', mf]]) {
    const data = Buffer.from(text);
    writeSync(fd, ustarHeader(name, data.length), 0, 512, at);
    writeSync(fd, data, 0, data.length, at + 512);
    at += 512 + Math.ceil(data.length / 512) * 512;
  }
  writeSync(fd, ustarHeader('big.vhd', diskBytes), 0, 512, at);
  const dataAt = at + 512;
  writeSync(fd, footer, 0, 512, dataAt + size);
  ftruncateSync(fd, dataAt + diskBytes + 1024); // the data ends on a block; two zero blocks end the archive
  closeSync(fd);
  return { path, bytes: statSync(path).size, dataAt, diskBytes, diskDigest, digestSeconds };
}

/** A ustar header; sizes past the 11 octal digits in GNU base-256 (as GNU tar writes them). */
function ustarHeader(name, size) {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write('0000644\0', 100, 'latin1'); // mode
  block.write('0000000\0', 108, 'latin1'); // uid
  block.write('0000000\0', 116, 'latin1'); // gid
  if (size < 8 ** 11) block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  else {
    block[124] = 0x80;
    let value = BigInt(size);
    for (let i = 135; i > 124; i--, value >>= 8n) block[i] = Number(value & 0xffn);
  }
  block.write('14540000000\0', 136, 'latin1'); // mtime
  block.write('0', 156, 'latin1'); // a regular file
  block.write(size < 8 ** 11 ? 'ustar\u000000' : 'ustar  \0', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function ovfText(size) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="big.vhd" ovf:id="file1" ovf:size="${size + 512}"/></References>
  <DiskSection><Info>Virtual disk information</Info>
    <Disk ovf:capacity="${size / GiB}" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://technet.microsoft.com/en-us/library/bb676673.aspx"/>
  </DiskSection>
  <VirtualSystem ovf:id="big">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="94" vmw:osType="ubuntu64Guest"><Info>The guest</Info></OperatingSystemSection>
    <VirtualHardwareSection><Info>Virtual hardware</Info><vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="bios"/></VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/** `cat ova | node CLI args`: wall time of the pipeline, peak RSS of the node process (GNU time -o), its stdout. */
function piped(path, args, statuses = [0]) {
  const rssFile = join(dir, 'rss');
  const command = `cat ${quote(path)} | /usr/bin/time -f %M -o ${quote(rssFile)} node ${quote(CLI)} ${args.map(quote).join(' ')}`;
  const started = process.hrtime.bigint();
  const result = spawnSync('bash', ['-c', `set -o pipefail; ${command}`], { encoding: 'utf8', maxBuffer: 64 * MiB });
  const secondsTaken = Number(process.hrtime.bigint() - started) / 1e9;
  if (!statuses.includes(result.status)) throw new Error(`${command} exited ${result.status}: ${result.stderr}`);
  const rssKiB = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  return { seconds: secondsTaken, rssMiB: rssKiB / 1024, stdout: result.stdout };
}

/** A shell pipeline of peers (cat | openssl): wall time; RSS is not what is compared for them. */
function shell(command) {
  const started = process.hrtime.bigint();
  const result = spawnSync('bash', ['-c', `set -o pipefail; ${command}`], { encoding: 'utf8' });
  const secondsTaken = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
  return { seconds: secondsTaken, rssMiB: NaN, stdout: result.stdout };
}

function quote(text) {
  return `'${String(text).replace(/'/g, `'\\''`)}'`;
}

function seconds(runs) {
  return runs.map((r) => r.seconds);
}

function rssOf(runs) {
  return Math.max(...runs.map((r) => r.rssMiB));
}

function rss(runs) {
  const value = rssOf(runs);
  return Number.isNaN(value) ? '-' : value.toFixed(0);
}

function ms(secondsTaken) {
  return (secondsTaken * 1000).toFixed(1);
}

function option(name) {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}
