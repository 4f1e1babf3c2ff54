import { DiskError } from '../errors.js';
import { checkReadLength } from './check.js';
import type { ByteSource } from './types.js';

/** A random-access source over bytes already in memory (a small tar entry, a test's damaged copy). */
export class MemorySource implements ByteSource {
  readonly seekable = true;
  readonly size: number;
  bytesRead = 0;

  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkReadLength(this.name, offset, length);
    if (offset < 0 || offset + length > this.size) {
      throw new DiskError('TRUNCATED', `needs bytes ${offset}..${offset + length} but the data is ${this.size} bytes`, {
        file: this.name,
        offset,
      });
    }
    this.bytesRead += length;
    return this.bytes.slice(offset, offset + length);
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    target.set(await this.read(offset, target.length));
  }

  async close(): Promise<void> {}
}
