/**
 * qcow2 (QEMU copy-on-write v2/v3), input only. Standalone images: compressed clusters (zlib or zstd), zero
 * clusters and extended L2 entries (subclusters) are read; encryption, backing files and external data files are
 * refused with their own codes. Snapshots are counted; the active L1 table is what is read.
 */
import { createMappedImage } from '../../image/create.js';
import type { DiskFormat } from '../../image/types.js';
import { FORMAT, readLayout } from './header.js';
import { Qcow2Mapping } from './mapping.js';
import { ForwardReader } from './stream.js';

export const qcow2: DiskFormat = {
  name: FORMAT,
  // "QFI\xfb" at 0; the version (1 is the old qcow, which open() refuses by name) is judged by open().
  detect: ({ head }) => head.length >= 4 && head[0] === 0x51 && head[1] === 0x46 && head[2] === 0x49 && head[3] === 0xfb,
  async open(source) {
    const layout = await readLayout(source);
    const reader = source.seekable ? source : new ForwardReader(source, layout.clusterSize);
    const mapping = await Qcow2Mapping.open(layout, reader, source.size);
    const allocatedSize = await mapping.allocatedSize(source.seekable);
    return createMappedImage({
      format: FORMAT,
      subformat: `v${layout.version}`,
      virtualSize: layout.virtualSize,
      allocatedSize,
      details: layout.details,
      source,
      map: mapping.map,
    });
  },
};
