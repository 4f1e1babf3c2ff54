import type { ByteSource } from './types.js';

/**
 * Serves many small nearby reads from a few shared larger ones. Compressed qcow2 clusters lie back to back in the
 * file and are each a few KiB: reading them one by one cost more time than inflating them (bench/read).
 * Concurrent readers of the same window share its one read.
 */
export class ReadWindows {
  private windows: { start: number; end: number; bytes: Promise<Uint8Array> }[] = [];

  constructor(
    private readonly source: ByteSource,
    private readonly windowBytes = 256 * 1024,
    private readonly keep = 8,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(offset + this.windowBytes, this.source.size ?? offset + length);
    if (length > this.windowBytes || offset + length > end) return this.source.read(offset, length);
    let window = this.windows.find((w) => offset >= w.start && offset + length <= w.end);
    if (window === undefined) {
      window = { start: offset, end, bytes: this.source.read(offset, end - offset) };
      window.bytes.catch(() => undefined); // the caller awaits it below; later sharers see the same rejection
      this.windows.push(window);
      if (this.windows.length > this.keep) this.windows.shift();
    }
    const bytes = await window.bytes;
    return bytes.subarray(offset - window.start, offset - window.start + length);
  }
}
