/**
 * A ByteSource knows where bytes come from and nothing else. Random-access sources (a file, later an S3 object)
 * read anywhere; forward-only sources (a pipe, a tar entry in a streamed OVA) can only skip ahead and throw
 * BACKWARD_READ otherwise, so whether a format can be read from a pipe is explicit.
 */
export interface ByteSource {
  /** The name used in error messages (a path, `-` for stdin, `s3://…`). */
  readonly name: string;
  /** Total size in bytes, or undefined when a forward-only source does not know it. */
  readonly size: number | undefined;
  /** True when any offset may be read in any order. */
  readonly seekable: boolean;
  /** Bytes fetched from the underlying medium so far (for benchmarks: "how much did inspect read?"). */
  readonly bytesRead: number;
  /**
   * Reads exactly `length` bytes at `offset`. Throws TRUNCATED when the data ends first, BACKWARD_READ when a
   * forward-only source has already passed `offset`, LIMIT_EXCEEDED when `length` exceeds Limits.maxRead.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Reads exactly `target.length` bytes at `offset` into `target` (same errors as read). Lets a caller reuse
   * buffers: fresh multi-MiB allocations per read cost more than the read itself.
   */
  readInto(offset: number, target: Uint8Array): Promise<void>;
  /** Opens a sibling file relative to this one (VMDK extents); undefined when the source has no folder. */
  readonly sibling?: (relativePath: string) => Promise<ByteSource>;
  close(): Promise<void>;
}
