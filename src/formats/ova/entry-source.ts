/**
 * A tar entry of a random-access OVA seen as a file of its own: reads are shifted by the entry's data offset and
 * bounded by its size, so a disk reader opened on it cannot see its neighbours. Closing it leaves the OVA open (the
 * walker and the other disks still read it).
 */
import { DiskError } from '../../errors.js';
import { Limits } from '../../limits.js';
import { checkReadLength } from '../../source/check.js';
import type { ByteSource } from '../../source/types.js';

export class EntrySource implements ByteSource {
  readonly seekable = true;
  bytesRead = 0;
  readonly sibling?: (relativePath: string) => Promise<ByteSource>;

  constructor(
    readonly name: string,
    /** The OVA. */
    readonly parent: ByteSource,
    /** Where the entry's data starts in the OVA. */
    readonly base: number,
    readonly size: number,
    /** Opens another entry of the same OVA by a path relative to this one (a VMDK descriptor's extents). */
    sibling?: (relativePath: string) => Promise<ByteSource>,
  ) {
    if (sibling !== undefined) this.sibling = sibling;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    const bytes = await this.parent.read(this.base + offset, length);
    this.bytesRead += length;
    return bytes;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    this.check(offset, target.length);
    await this.parent.readInto(this.base + offset, target);
    this.bytesRead += target.length;
  }

  private check(offset: number, length: number): void {
    checkReadLength(this.name, offset, length);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new DiskError('TRUNCATED', `needs bytes ${offset}..${offset + length} but the entry is ${this.size} bytes`, {
        file: this.name,
        offset,
      });
    }
  }

  async close(): Promise<void> {}
}

/** The bytes of `length` bytes at `offset` of a random-access source, in chunks of Limits.dataChunk. */
export async function* rangeChunks(source: ByteSource, offset: number, length: number): AsyncGenerator<Uint8Array> {
  for (let done = 0; done < length; ) {
    const size = Math.min(Limits.dataChunk, length - done);
    yield await source.read(offset + done, size);
    done += size;
  }
}
