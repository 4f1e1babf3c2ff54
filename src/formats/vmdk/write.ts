/**
 * The VMDK writer: one hosted sparse extent with its descriptor embedded, in two subformats.
 * - streamOptimized (default, what VM Import and ESXi take): compressed grains with markers, written append-only
 *   (write-stream.ts), so it can go straight to a pipe or an upload.
 * - monolithicSparse: plain grains; its grain directory is patched in at the end (write-sparse.ts).
 * The header and descriptor, shared by both, are built in layout.ts from the struct table the reader decodes with.
 */
import type { DiskImage } from '../../image/types.js';
import { knownSize, type DiskWriter, type WriteOptions } from '../../image/writer.js';
import { sparseLayout, type VmdkSubformat } from './layout.js';
import { writeMonolithicSparse } from './write-sparse.js';
import { writeStreamOptimized } from './write-stream.js';

export const vmdkWriter: DiskWriter = {
  format: 'vmdk',
  subformats: ['streamOptimized', 'monolithicSparse'],
  streamable: (subformat) => subformat === 'streamOptimized',
  write(image: DiskImage, options: WriteOptions) {
    const layout = sparseLayout(knownSize(image, 'vmdk'), options.subformat as VmdkSubformat);
    return options.subformat === 'streamOptimized'
      ? writeStreamOptimized(image, layout, options.workers)
      : writeMonolithicSparse(image, layout);
  },
};

