/**
 * An S3 object as a random-access ByteSource: its size from one HEAD, its bytes from ranged GETs. Readers ask
 * for many small pieces (headers, tables, superblocks) near each other, so small reads go through a cache of
 * 256 KiB blocks (32 of them, 8 MiB at most), fetched a contiguous run per GET; large reads go straight to S3.
 * Inspecting a 50 GiB image this way reads kilobytes to a few MiB. The client comes from the environment
 * (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) unless options give one.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { DiskError } from '../errors.js';
import { createS3Client, type S3ClientOptions } from '../upload/client.js';
import { headObject } from '../upload/multipart.js';
import { s3Error } from '../upload/s3-errors.js';
import { parseS3Url, type S3Target } from '../upload/target.js';
import { checkReadLength } from './check.js';
import type { ByteSource } from './types.js';

const BLOCK = 256 * 1024;
const CACHED_BLOCKS = 32;
/** Reads at least this long bypass the cache (streaming a whole image should not churn it). */
const DIRECT_READ = 1024 * 1024;

export interface S3SourceOptions extends S3ClientOptions {
  client?: S3Client;
}

export class S3Source implements ByteSource {
  readonly seekable = true;
  bytesRead = 0;
  /** Block index -> its bytes (or the GET that brings them); Map order is least recently used first. */
  private readonly cache = new Map<number, Promise<Uint8Array>>();

  private constructor(
    readonly name: string,
    private readonly target: S3Target,
    readonly size: number,
    private readonly client: S3Client,
    private readonly ownsClient: boolean,
  ) {}

  static async open(url: string, options: S3SourceOptions = {}): Promise<S3Source> {
    const target = parseS3Url(url);
    const client = options.client ?? (await createS3Client(options));
    try {
      const head = await headObject(client, target);
      return new S3Source(url, target, head.size, client, options.client === undefined);
    } catch (error) {
      if (options.client === undefined) client.destroy();
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const target = new Uint8Array(length);
    await this.readInto(offset, target);
    return target;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    const length = target.length;
    checkReadLength(this.name, offset, length);
    if (offset < 0 || offset + length > this.size) {
      throw new DiskError('TRUNCATED', `needs bytes ${offset}..${offset + length} but the object is ${this.size} bytes`, { file: this.name, offset });
    }
    if (length === 0) return;
    if (length >= DIRECT_READ) {
      target.set(await this.fetch(offset, offset + length));
      return;
    }
    const first = Math.floor(offset / BLOCK);
    const last = Math.floor((offset + length - 1) / BLOCK);
    const blocks = await Promise.all(this.blocks(first, last));
    blocks.forEach((block, i) => {
      const blockStart = (first + i) * BLOCK;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(offset + length, blockStart + block.length) - blockStart;
      target.set(block.subarray(from, to), blockStart + from - offset);
    });
  }

  /** The blocks first..last, from the cache or fetched, each contiguous run of missing ones by a single GET. */
  private blocks(first: number, last: number): Promise<Uint8Array>[] {
    let runStart: number | undefined;
    const fetchRun = (end: number): void => {
      if (runStart === undefined) return;
      const start = runStart;
      const run = this.fetch(start * BLOCK, Math.min(end * BLOCK, this.size));
      for (let index = start; index < end; index++) {
        const block = run.then((bytes) => bytes.subarray((index - start) * BLOCK, (index - start + 1) * BLOCK));
        block.catch(() => this.cache.delete(index));
        this.cache.set(index, block);
      }
      runStart = undefined;
    };
    for (let index = first; index <= last; index++) {
      const cached = this.cache.get(index);
      if (cached === undefined) {
        runStart ??= index;
        continue;
      }
      fetchRun(index);
      this.cache.delete(index); // re-inserted: now the most recently used
      this.cache.set(index, cached);
    }
    fetchRun(last + 1);
    const wanted = Array.from({ length: last - first + 1 }, (_, i) => this.cache.get(first + i)!);
    for (const index of this.cache.keys()) {
      if (this.cache.size <= CACHED_BLOCKS) break;
      this.cache.delete(index);
    }
    return wanted;
  }

  /** Bytes start..end (exclusive) in one ranged GET. */
  private async fetch(start: number, end: number): Promise<Uint8Array> {
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    let bytes: Uint8Array;
    try {
      const reply = await this.client.send(
        new GetObjectCommand({ Bucket: this.target.bucket, Key: this.target.key, Range: `bytes=${start}-${end - 1}` }),
      );
      bytes = await reply.Body!.transformToByteArray();
    } catch (error) {
      throw s3Error(error, `read bytes ${start}..${end} of`, this.name);
    }
    if (bytes.length !== end - start) {
      throw new DiskError('TRUNCATED', `asked for bytes ${start}..${end}, got ${bytes.length} bytes (did the object change?)`, { file: this.name, offset: start });
    }
    this.bytesRead += bytes.length;
    return bytes;
  }

  async close(): Promise<void> {
    this.cache.clear();
    if (this.ownsClient) this.client.destroy();
  }
}
