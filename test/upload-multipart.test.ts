/**
 * Multipart uploads to the two S3 servers on loopback, each through a fault-injecting proxy where a test needs one:
 * Ceph RGW 16 (the full multipart API, as AWS S3) and the sandbox's S3 (s3rver, with the listing and abort calls the
 * sandbox adds). Round trips with per-part CRC32 headers, retries of 500 / 503 SlowDown / dropped connections, clean
 * aborts (ListMultipartUploads empty), and a CLI process killed mid-upload, then resumed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../src/upload/state.js';
import { upload } from '../src/upload/upload.js';
import { verify } from '../src/upload/verify.js';
import { expectDiskError } from './helpers.js';
import { startFaultProxy, type FaultProxy } from './s3/fault-proxy.js';
import { MiB, cliEnv, inspector, makeBucket, objectBytes, pendingUploads, randomFile, runCli, useS3rver } from './s3/helpers.js';
import { useRgw, type S3Endpoint } from './s3/rgw.js';

const BUCKET = 'multipart-uploads';
const dir = mkdtempSync(join(tmpdir(), 'diskport-upload-multipart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Server {
  endpoint: S3Endpoint;
  close(): Promise<void>;
}

const SERVERS = [
  {
    name: 'Ceph RGW',
    /** RGW answers CompleteMultipartUpload with S3's multipart ETag, "<md5 of the part md5s>-<parts>". */
    multipartEtag: true,
    start: async (): Promise<Server> => {
      const endpoint = await useRgw();
      const client = inspector(endpoint);
      await makeBucket(client, BUCKET);
      client.destroy();
      return { endpoint, close: async () => undefined }; // the run's global teardown stops RGW
    },
  },
  {
    name: 'the sandbox S3 (s3rver)',
    multipartEtag: false,
    start: async (): Promise<Server> => {
      const server = await useS3rver([BUCKET]);
      return { endpoint: server, close: server.close };
    },
  },
];

describe.each(SERVERS)('$name', ({ start, multipartEtag }) => {
  let server: S3Endpoint;
  let stop: () => Promise<void>;
  let s3: S3Client;
  let proxy: FaultProxy;

  beforeAll(async () => {
    ({ endpoint: server, close: stop } = await start());
    s3 = inspector(server);
    proxy = await startFaultProxy(server.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    s3?.destroy();
    await stop?.();
  });

  /** Library options through the proxy (whose rule each test sets with reset()), 5 MiB parts. */
  function viaProxy(extra: Record<string, unknown> = {}) {
    return { endpointUrl: proxy.endpoint, credentials: server.credentials, region: server.region, partSize: 5 * MiB, ...extra };
  }

  describe('round trips', () => {
    it.each([0, 1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 17 * MiB + 5])('%i bytes: byte-equal, verified, each part sent with its CRC32', async (size) => {
      proxy.reset(() => 'pass');
      const file = randomFile(dir, `${size}.bin`, size);
      const result = await upload(file, `s3://${BUCKET}/round/${size}`, viaProxy());
      const bytes = readFileSync(file);
      expect((await objectBytes(s3, BUCKET, `round/${size}`)).equals(bytes)).toBe(true);
      const parts = Math.max(1, Math.ceil(size / (5 * MiB)));
      if (multipartEtag) expect(result.etag).toMatch(new RegExp(`-${parts}"$`));
      expect(proxy.parts.map((part) => part.partNumber).sort((a, b) => a - b)).toEqual(Array.from({ length: parts }, (_, i) => i + 1));
      for (const part of proxy.parts) {
        const slice = bytes.subarray((part.partNumber - 1) * 5 * MiB, part.partNumber * 5 * MiB);
        expect(Buffer.from(part.crc32!, 'base64').readUInt32BE()).toBe(crc32(slice));
      }
      expect(await verify(`s3://${BUCKET}/round/${size}`, file, viaProxy())).toMatchObject({ match: true, metadataXxh64: result.xxh64 });
    });
  });

  describe('bad days', () => {
    it('retries 503 SlowDown, 500 and dropped connections on parts; the content arrives intact', async () => {
      proxy.reset(({ partNumber, attempt }) => {
        if (attempt > 1) return 'pass';
        if (partNumber === 2) return { status: 503, code: 'SlowDown' };
        if (partNumber === 3) return { status: 500, code: 'InternalError' };
        if (partNumber === 4) return 'drop';
        return 'pass';
      });
      const file = randomFile(dir, 'faults.bin', 25 * MiB);
      await upload(file, `s3://${BUCKET}/faults`, viaProxy());
      expect((await objectBytes(s3, BUCKET, 'faults')).equals(readFileSync(file))).toBe(true);
      const retried = proxy.parts.filter((part) => part.attempt === 2).map((part) => part.partNumber).sort();
      expect(retried).toEqual([2, 3, 4]);
      expect(proxy.parts.filter((part) => part.attempt === 1 && part.fault !== 'pass').map((part) => part.fault).sort()).toEqual([500, 503, 'drop'].sort());
    });

    it('aborts the multipart upload when a part keeps failing: nothing left in ListMultipartUploads, no state file', async () => {
      proxy.reset(({ partNumber }) => (partNumber === 3 ? { status: 500, code: 'InternalError' } : 'pass'));
      const file = randomFile(dir, 'fails.bin', 20 * MiB);
      const error = await expectDiskError(upload(file, `s3://${BUCKET}/fails`, viaProxy({ maxAttempts: 2 })), 'S3_REQUEST_FAILED');
      expect(error.message).toContain('upload part 3');
      expect(proxy.parts.filter((part) => part.partNumber === 3)).toHaveLength(2);
      expect(await pendingUploads(s3, BUCKET)).toEqual([]);
      expect(existsSync(`${file}.diskport-upload.json`)).toBe(false);
    });

    it('stops with SOURCE_CHANGED when the file shrinks while it is read, and aborts', async () => {
      const file = randomFile(dir, 'shrinks.bin', 20 * MiB);
      proxy.reset(({ partNumber }) => {
        if (partNumber === 1) truncateSync(file, 6 * MiB);
        return 'pass';
      });
      await expectDiskError(upload(file, `s3://${BUCKET}/shrinks`, viaProxy({ concurrency: 1 })), 'SOURCE_CHANGED');
      expect(await pendingUploads(s3, BUCKET)).toEqual([]);
    });

    it('fails with STATE_WRITE_FAILED when the disk for the state file is full, and aborts', async () => {
      proxy.reset(() => 'pass');
      const file = randomFile(dir, 'full.bin', 6 * MiB);
      const state = join(dir, 'full-state.json');
      symlinkSync('/dev/full', `${state}.tmp`); // every write there fails with ENOSPC
      await expectDiskError(upload(file, `s3://${BUCKET}/full`, viaProxy({ statePath: state })), 'STATE_WRITE_FAILED');
      expect(await pendingUploads(s3, BUCKET)).toEqual([]);
    });
  });

  describe('resume', () => {
    it('continues a CLI upload killed mid-way: finished parts are not sent again, the object is byte-identical', async () => {
      const file = randomFile(dir, 'killed.bin', 40 * MiB + 123);
      const statePath = `${file}.diskport-upload.json`;
      let passed = 0;
      proxy.reset(({ partNumber }) => (partNumber !== undefined && passed++ >= 3 ? 'hold' : 'pass'));
      const env = cliEnv(server);
      const args = ['upload', file, `s3://${BUCKET}/killed`, '--endpoint-url', proxy.endpoint, '--part-size', '5MiB', '--concurrency', '3', '--json'];
      let pid = 0;
      const killed = runCli(args, env, (child) => (pid = child));
      const state = await waitFor(async () => {
        const known = await readState(statePath).catch(() => undefined);
        return known !== undefined && known.parts.length === 3 ? known : undefined;
      });
      process.kill(pid, 'SIGKILL');
      expect((await killed).signal).toBe('SIGKILL');

      const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'killed', UploadId: state.uploadId }));
      const before = new Map((listed.Parts ?? []).map((part) => [part.PartNumber!, part.LastModified!.getTime()]));
      const finished = state.parts.map((part) => part.partNumber).sort((a, b) => a - b);
      expect([...before.keys()].sort((a, b) => a - b)).toEqual(finished);

      proxy.reset(() => 'pass');
      const resumed = await runCli([...args, '--resume'], env);
      expect(resumed.stderr).toBe('');
      const result = JSON.parse(resumed.stdout.trim().split('\n').at(-1)!);
      expect(result).toMatchObject({ event: 'result', resumed: true, parts: 9, partsSent: 6, uploadId: state.uploadId });
      const resent = proxy.parts.map((part) => part.partNumber).sort((a, b) => a - b);
      expect(resent).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].filter((n) => !finished.includes(n)));
      expect((await objectBytes(s3, BUCKET, 'killed')).equals(readFileSync(file))).toBe(true);
      expect(existsSync(statePath)).toBe(false);
      expect(await pendingUploads(s3, BUCKET)).toEqual([]);
    });

    it('keeps an upload interrupted by SIGINT for --resume, and refuses to resume a file that changed', async () => {
      const file = randomFile(dir, 'interrupted.bin', 16 * MiB);
      let passed = 0;
      proxy.reset(({ partNumber }) => (partNumber !== undefined && passed++ >= 1 ? 'hold' : 'pass'));
      const env = cliEnv(server);
      const args = ['upload', file, `s3://${BUCKET}/interrupted`, '--endpoint-url', proxy.endpoint, '--part-size', '5MiB'];
      let pid = 0;
      const interrupted = runCli(args, env, (child) => (pid = child));
      await waitFor(async () => ((await readState(`${file}.diskport-upload.json`).catch(() => undefined))?.parts.length === 1 ? true : undefined));
      process.kill(pid, 'SIGINT');
      const run = await interrupted;
      expect(run.status).toBe(3);
      expect(run.stderr).toMatch(/run the same command with --resume to continue \(UPLOAD_INTERRUPTED\)\n$/);
      expect((await pendingUploads(s3, BUCKET)).map((pending) => pending.key)).toEqual(['interrupted']);

      proxy.reset(() => 'pass');
      randomFile(dir, 'interrupted.bin', 16 * MiB); // same size, other bytes
      const refused = await runCli([...args, '--resume'], env);
      expect(refused.stderr).toMatch(/the file changed since the upload began.*\(SOURCE_CHANGED\)\n$/);

      const fresh = await runCli(args, env); // without --resume: the old upload is aborted, a new one made
      expect(fresh.status).toBe(0);
      expect(await pendingUploads(s3, BUCKET)).toEqual([]);
      expect((await objectBytes(s3, BUCKET, 'interrupted')).equals(readFileSync(file))).toBe(true);
    });
  });
});

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const value = await probe();
    if (value !== undefined) return value;
  }
  throw new Error('timed out waiting');
}
