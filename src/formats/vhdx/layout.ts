/**
 * Where everything goes in a VHDX diskport writes, decided from the virtual size alone before any data is read:
 *
 *   0       header section (file identifier, two headers, two region tables), 1 MiB
 *   1 MiB   log, 1 MiB, empty (LogGuid zero: nothing to replay)
 *   2 MiB   metadata region, 1 MiB (table, then the five items at 64 KiB)
 *   3 MiB   BAT region, its entries rounded up to 1 MiB
 *   then    payload blocks, each a whole block, 1 MiB aligned (every block size is a 1 MiB multiple)
 *
 * The metadata comes before the BAT so a forward-only reader learns the BAT's length before it reaches it.
 */
import { DiskError } from '../../errors.js';
import { Limits } from '../../limits.js';
import { batShape } from './bat.js';
import { BAT_ENTRY_SIZE, Layout } from './structs.js';

const MiB = 1024 * 1024;

/** The logical sector: 512 bytes, what every hypervisor and VM Import reads; the virtual size is a multiple of it. */
export const LOGICAL_SECTOR_SIZE = 512;
/** The physical sector reported to the guest: 4096, Hyper-V's default for VHDX (qemu-img writes 512). */
export const PHYSICAL_SECTOR_SIZE = 4096;
/**
 * Most payload blocks before the block size doubles: 2^21 keeps the BAT at about 16 MiB whatever the size, so 1 MiB
 * blocks serve disks up to 2 TiB and 64 TiB takes 32 MiB blocks.
 */
const MAX_PAYLOAD_BLOCKS = 2 ** 21;

export interface VhdxLayout {
  /** The size written to the metadata: the source's size rounded up to a whole logical sector. */
  readonly virtualSize: number;
  readonly blockSize: number;
  readonly chunkRatio: number;
  readonly payloadBlocks: number;
  /** BAT entries the disk needs (payload entries with a sector bitmap entry after every chunkRatio of them). */
  readonly batEntries: number;
  readonly logOffset: number;
  readonly logLength: number;
  readonly metadataOffset: number;
  readonly metadataLength: number;
  readonly batOffset: number;
  readonly batLength: number;
  /** File offset of the first payload block. */
  readonly dataOffset: number;
}

/**
 * The layout for a disk of `sourceSize` bytes (`file` names the input, for errors). Throws UNSUPPORTED_FEATURE past
 * VHDX's 64 TiB, and LIMIT_EXCEEDED should the BAT outgrow Limits.maxTableBytes (it cannot with the block sizes
 * chosen here; the check stands before the allocation all the same).
 */
export function planLayout(sourceSize: number, file: string): VhdxLayout {
  const virtualSize = Math.ceil(sourceSize / LOGICAL_SECTOR_SIZE) * LOGICAL_SECTOR_SIZE;
  if (virtualSize > Layout.maxVirtualSize) {
    throw new DiskError(
      'UNSUPPORTED_FEATURE',
      `the disk is ${sourceSize} bytes and VHDX holds at most ${Layout.maxVirtualSize} (64 TiB): write it as RAW, or shrink the disk first`,
      { file, format: 'vhdx', field: 'virtual_disk_size' },
    );
  }
  const blockSize = chooseBlockSize(virtualSize);
  const { chunkRatio, payloadBlocks, entries } = batShape({ virtualSize, blockSize, logicalSectorSize: LOGICAL_SECTOR_SIZE });
  const batBytes = entries * BAT_ENTRY_SIZE;
  if (batBytes > Limits.maxTableBytes) {
    throw new DiskError(
      'LIMIT_EXCEEDED',
      `the BAT for ${virtualSize} bytes in ${blockSize}-byte blocks needs ${batBytes} bytes, over the maximum of ${Limits.maxTableBytes}`,
      { file, format: 'vhdx', field: 'region.bat' },
    );
  }
  const logOffset = Layout.headerSectionSize;
  const logLength = MiB;
  const metadataOffset = logOffset + logLength;
  const metadataLength = MiB;
  const batOffset = metadataOffset + metadataLength;
  // A region's length is a non-zero 1 MiB multiple, even for a disk too small to need a whole MiB of entries.
  const batLength = Math.max(1, Math.ceil(batBytes / MiB)) * MiB;
  return {
    virtualSize,
    blockSize,
    chunkRatio,
    payloadBlocks,
    batEntries: entries,
    logOffset,
    logLength,
    metadataOffset,
    metadataLength,
    batOffset,
    batLength,
    dataOffset: batOffset + batLength,
  };
}

/**
 * The block size: 1 MiB, the smallest VHDX allows, doubled only as far as needed to keep the block count at most
 * MAX_PAYLOAD_BLOCKS. Small blocks store least of a sparse disk (a block holding one non-zero byte is stored whole),
 * and every stored byte is uploaded. qemu-img picks 8 MiB (up to 1 GiB), 16 MiB (up to 100 GiB), 32 MiB (up to
 * 32 TiB) or 64 MiB, and Hyper-V 32 MiB, both for the sake of a small BAT, which the 2^21 cap keeps small anyway.
 */
export function chooseBlockSize(virtualSize: number): number {
  let blockSize = Layout.minBlockSize;
  while (virtualSize / blockSize > MAX_PAYLOAD_BLOCKS && blockSize < Layout.maxBlockSize) blockSize *= 2;
  return blockSize;
}
