import type { ByteSource } from '../source/types.js';

export type FormatName = 'raw' | 'vmdk' | 'vhd' | 'vhdx' | 'qcow2';

/** A run of guest bytes: either its data, or a run the image declares as zeros. */
export type Extent =
  | { readonly offset: number; readonly length: number; readonly data: Uint8Array; readonly zero?: undefined }
  | { readonly offset: number; readonly length: number; readonly zero: true; readonly data?: undefined };

/**
 * The pivot every reader produces and every writer consumes. Guest bytes not covered by an extent read as
 * zeros (unallocated). Extents come in ascending, non-overlapping guest order, each at most Limits.dataChunk.
 */
export interface DiskImage {
  readonly format: FormatName;
  /** vmdk: createType; vhd/vhdx: fixed | dynamic | differencing; qcow2: v2 | v3; raw: null. */
  readonly subformat: string | null;
  /** Guest-visible size in bytes; undefined only for RAW read from a pipe whose length is not known yet. */
  readonly virtualSize: number | undefined;
  /** Guest bytes backed by data in the file (allocated), where the format's tables say. */
  readonly allocatedSize: number | undefined;
  /** Format-specific facts worth showing (cluster size, creator, extents...), JSON-ready. */
  readonly details: Readonly<Record<string, unknown>>;
  /** The file the image was opened from. */
  readonly source: ByteSource;
  /** True when read() works (the source is random access). */
  readonly randomAccess: boolean;
  /** Allocated extents in guest order. Works on forward-only sources where the layout allows. */
  extents(): AsyncIterable<Extent>;
  /** Reads guest bytes; throws NOT_SEEKABLE on a forward-only source. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Closes the source and any extent files the image opened. */
  close(): Promise<void>;
}

/** What detection looks at: the first bytes, the last 512 when the size is known, and the size. */
export interface Probe {
  readonly head: Uint8Array;
  readonly tail: Uint8Array | undefined;
  readonly size: number | undefined;
  readonly name: string;
}

export interface OpenOptions {
  /** Follow references (VMDK extents) outside the image's folder. */
  allowOutsideFolder?: boolean;
  /** Parent image for differencing / backing-file images, where a reader supports it. */
  parent?: DiskImage;
}

/** One folder under src/formats, every one this shape. */
export interface DiskFormat {
  readonly name: FormatName;
  /** True when the probe carries this format's signature. Cheap and side-effect free. */
  detect(probe: Probe): boolean;
  /** Parses headers and tables (checking each against the source) and returns a ready image. */
  open(source: ByteSource, options: OpenOptions): Promise<DiskImage>;
}
