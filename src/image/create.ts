import { DiskError } from '../errors.js';
import type { ByteSource } from '../source/types.js';
import { mergeAdjacent } from './merge.js';
import { SpanEngine, type MapFunction } from './spans.js';
import type { DiskImage, Extent, FormatName } from './types.js';

export interface MappedImageSpec {
  format: FormatName;
  subformat: string | null;
  virtualSize: number;
  allocatedSize: number | undefined;
  details: Record<string, unknown>;
  source: ByteSource;
  map: MapFunction;
  /** Replaces the map-driven iterator where a format streams better another way (VMDK stream markers). */
  extents?: () => AsyncIterable<Extent>;
  /** Extra cleanup (extent files) besides closing `source`. */
  close?: () => Promise<void>;
}

/** Builds a DiskImage from a format's allocation map; the map-driven engine does the reading. */
export function createMappedImage(spec: MappedImageSpec): DiskImage {
  const engine = new SpanEngine(spec.map, spec.virtualSize, { forwardOnly: !spec.source.seekable });
  const name = spec.source.name;
  return {
    format: spec.format,
    subformat: spec.subformat,
    virtualSize: spec.virtualSize,
    allocatedSize: spec.allocatedSize,
    details: spec.details,
    source: spec.source,
    randomAccess: spec.source.seekable,
    extents: () => mergeAdjacent(spec.extents?.() ?? engine.extents()),
    async read(offset, length) {
      if (!spec.source.seekable) {
        throw new DiskError('NOT_SEEKABLE', 'random reads need a file, not a pipe', { file: name, format: spec.format });
      }
      return engine.read(offset, length);
    },
    async close() {
      await spec.close?.();
      await spec.source.close();
    },
  };
}
