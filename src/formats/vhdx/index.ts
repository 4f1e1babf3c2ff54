/**
 * VHDX (MS-VHDX): a 1 MiB header section (file identifier, two headers, two region tables), then 1 MiB-aligned
 * regions (log, BAT, metadata) and payload blocks. Reads fixed and dynamic disks; refuses differencing disks
 * (PARENT_REQUIRED) and files whose log may need replaying (VHDX_LOG_NOT_EMPTY).
 */
import { createMappedImage } from '../../image/create.js';
import type { DiskFormat } from '../../image/types.js';
import { Limits } from '../../limits.js';
import { readChecked } from '../../source/check.js';
import type { ByteSource } from '../../source/types.js';
import { BlockTable, batShape } from './bat.js';
import { vhdxError } from './fail.js';
import { readCurrentHeader, readRegions } from './headers.js';
import { readMetadata, type Metadata } from './metadata.js';
import { BAT_ENTRY_SIZE, FILE_SIGNATURE, FileIdentifier, Layout } from './structs.js';

const FORMAT = 'vhdx';
const SIGNATURE_BYTES = Buffer.from(FILE_SIGNATURE, 'latin1');

export const vhdx: DiskFormat = {
  name: 'vhdx',
  detect: (probe) =>
    probe.head.length >= SIGNATURE_BYTES.length && Buffer.from(probe.head.subarray(0, SIGNATURE_BYTES.length)).equals(SIGNATURE_BYTES),
  async open(source) {
    if (source.size !== undefined && source.size < Layout.headerSectionSize) {
      throw vhdxError(source, 'TRUNCATED', `the file is ${source.size} bytes, shorter than the 1 MiB VHDX header section`, 0, 'file_size');
    }
    // Everything up to the region tables lies in the first 320 KiB, which a forward-only source keeps.
    const identifier = FileIdentifier.decode(await readChecked(source, 0, FileIdentifier.size, { format: FORMAT, field: 'file_identifier' }));
    if (identifier.signature !== FILE_SIGNATURE) {
      throw vhdxError(source, 'BAD_MAGIC', 'the file does not start with "vhdxfile"', 0, 'file_identifier.signature');
    }
    const current = await readCurrentHeader(source);
    const regions = await readRegions(source);

    // On a file, read the metadata first so only the BAT entries the disk needs are read (a 2 TiB disk's BAT
    // region is 1 MiB, its entries about half that). From a pipe, follow file order: a BAT that comes first is
    // read whole, since its needed length is only known from the metadata after it.
    const metadataFirst = source.seekable || regions.metadata.offset < regions.bat.offset;
    const batRegion = metadataFirst
      ? undefined
      : await readChecked(source, regions.bat.offset, regions.bat.length, { format: FORMAT, field: 'region.bat', max: Limits.maxTableBytes });
    const metadata = await readMetadata(source, regions.metadata);
    if (metadata.hasParent) throw parentRequired(source, metadata);

    const { entries } = batShape(metadata);
    const batBytes = entries * BAT_ENTRY_SIZE;
    if (batBytes > Limits.maxTableBytes) {
      throw vhdxError(source, 'LIMIT_EXCEEDED', `the BAT for ${metadata.virtualSize} bytes in ${metadata.blockSize}-byte blocks needs ${batBytes} bytes, over the maximum of ${Limits.maxTableBytes}`, regions.bat.offset, 'region.bat');
    }
    if (batBytes > regions.bat.length) {
      throw vhdxError(source, 'BAD_HEADER', `the ${regions.bat.length}-byte BAT region cannot hold the ${entries} entries the disk needs`, regions.bat.offset, 'region.bat.length');
    }
    const bat = batRegion?.subarray(0, batBytes) ?? (await readChecked(source, regions.bat.offset, batBytes, { format: FORMAT, field: 'region.bat', max: Limits.maxTableBytes }));
    const table = new BlockTable(source, bat, metadata, regions.bat.offset);
    const { allocated } = table.validate();

    const notes = [current.note, regions.note].filter((note) => note !== undefined);
    const sequence = current.header.sequenceNumber;
    return createMappedImage({
      format: 'vhdx',
      // qemu's subformat=fixed (like Hyper-V's fixed disks) sets LeaveBlockAllocated; qemu convert then still
      // marks all-zero blocks ZERO, so the flag, not "every block present", is what says fixed.
      subformat: metadata.leaveBlockAllocated ? 'fixed' : 'dynamic',
      virtualSize: metadata.virtualSize,
      allocatedSize: allocated,
      details: {
        creator: identifier.creator,
        blockSize: metadata.blockSize,
        logicalSectorSize: metadata.logicalSectorSize,
        physicalSectorSize: metadata.physicalSectorSize,
        virtualDiskId: metadata.virtualDiskId,
        headerSequence: sequence <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sequence) : sequence.toString(),
        currentHeader: current.copy,
        leaveBlockAllocated: metadata.leaveBlockAllocated,
        chunkRatio: table.chunkRatio,
        ...(notes.length > 0 ? { notes } : {}),
      },
      source,
      map: table.map,
    });
  },
};

function parentRequired(source: ByteSource, metadata: Metadata) {
  const locator = metadata.parentLocator;
  const names = ['relative_path', 'absolute_win32_path', 'volume_path']
    .filter((key) => locator?.[key] !== undefined)
    .map((key) => `${key} ${JSON.stringify(locator![key])}`);
  const parent = names.length > 0 ? ` (${names.join(', ')})` : ' (no readable parent locator)';
  return vhdxError(
    source,
    'PARENT_REQUIRED',
    `a differencing VHDX needs its parent image${parent}; merge the chain into one image first (qemu-img convert)`,
    metadata.itemOffsets.fileParameters ?? 0,
    'file_parameters.has_parent',
  );
}
