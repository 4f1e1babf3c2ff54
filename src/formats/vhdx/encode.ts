/**
 * The bytes of the structures a VHDX writer emits, encoded from the same tables the reader decodes with
 * (structs.ts): the header section, the metadata region and the BAT.
 */
import { randomUUID } from 'node:crypto';
import { crc32c } from './crc32c.js';
import type { VhdxLayout } from './layout.js';
import { LOGICAL_SECTOR_SIZE, PHYSICAL_SECTOR_SIZE } from './layout.js';
import {
  BAT_ENTRY_SIZE, BatState, FILE_SIGNATURE, FileIdentifier, FileParameters, HEADER_SIGNATURE, Header, LEAVE_BLOCK_ALLOCATED,
  Layout, METADATA_IS_REQUIRED, METADATA_IS_VIRTUAL_DISK, METADATA_SIGNATURE, MetadataGuid, MetadataTableEntry,
  MetadataTableHeader, REGION_IS_REQUIRED, REGION_TABLE_SIGNATURE, RegionGuid, RegionTableEntry, RegionTableHeader,
  SectorSize, VirtualDiskId, VirtualDiskSize,
} from './structs.js';

const MiB = 1024 * 1024;
const ZERO_GUID = '00000000-0000-0000-0000-000000000000';
/** The file identifier's creator field (diagnostic only). */
export const CREATOR = 'diskport';

/** The random identifiers of one output file. */
export interface WriteIds {
  /** Header FileWriteGuid: a new value per writing session. */
  readonly fileWriteGuid: string;
  /** Header DataWriteGuid: a new value whenever the guest-visible data changes. */
  readonly dataWriteGuid: string;
  /** The Virtual Disk ID metadata item (SCSI page 83 data): what a guest sees as the disk's serial identity. */
  readonly virtualDiskId: string;
}

export function newWriteIds(): WriteIds {
  return { fileWriteGuid: randomUUID(), dataWriteGuid: randomUUID(), virtualDiskId: randomUUID() };
}

/**
 * The header section up to the end of region table 2 (320 KiB; the rest of the 1 MiB section is zeros): the file
 * identifier, two headers and two identical region tables. The headers differ only in their sequence numbers
 * (1 and 2, so header 2 is current), as a writer that updated each copy in turn would leave them.
 */
export function encodeHeaderSection(layout: VhdxLayout, ids: WriteIds): Uint8Array {
  const bytes = new Uint8Array(Layout.regionTables[1] + Layout.regionTableSize);
  FileIdentifier.encode({ signature: FILE_SIGNATURE, creator: CREATOR }, bytes, Layout.fileIdentifier);
  Layout.headers.forEach((offset, copy) => encodeHeader(bytes, offset, BigInt(copy + 1), layout, ids));
  for (const offset of Layout.regionTables) encodeRegionTable(bytes, offset, layout);
  return bytes;
}

function encodeHeader(into: Uint8Array, at: number, sequenceNumber: bigint, layout: VhdxLayout, ids: WriteIds): void {
  Header.encode(
    {
      signature: HEADER_SIGNATURE,
      sequenceNumber,
      fileWriteGuid: ids.fileWriteGuid,
      dataWriteGuid: ids.dataWriteGuid,
      logGuid: ZERO_GUID, // no log entries to replay
      logVersion: 0,
      version: 1,
      logLength: layout.logLength,
      logOffset: BigInt(layout.logOffset),
    },
    into,
    at,
  );
  // The checksum field is still zero, as the CRC-32C over the header's 4 KiB requires.
  Header.encode({ checksum: crc32c(into.subarray(at, at + Layout.headerChecked)) }, into, at);
}

function encodeRegionTable(into: Uint8Array, at: number, layout: VhdxLayout): void {
  const regions = [
    { guid: RegionGuid.bat, fileOffset: BigInt(layout.batOffset), length: layout.batLength, required: REGION_IS_REQUIRED },
    { guid: RegionGuid.metadata, fileOffset: BigInt(layout.metadataOffset), length: layout.metadataLength, required: REGION_IS_REQUIRED },
  ];
  RegionTableHeader.encode({ signature: REGION_TABLE_SIGNATURE, entryCount: regions.length }, into, at);
  regions.forEach((region, i) => RegionTableEntry.encode(region, into, at + RegionTableHeader.size + i * RegionTableEntry.size));
  RegionTableHeader.encode({ checksum: crc32c(into.subarray(at, at + Layout.regionTableSize)) }, into, at);
}

/**
 * The metadata region's used part: the 64 KiB table, then the five required items packed from 64 KiB on (the rest
 * of the 1 MiB region is zeros). Flags as MS-VHDX 2.6.2 lists them: every item IsRequired, all but File Parameters
 * IsVirtualDisk.
 */
export function encodeMetadata(layout: VhdxLayout, options: { leaveBlockAllocated: boolean; virtualDiskId: string }): Uint8Array {
  const disk = METADATA_IS_REQUIRED | METADATA_IS_VIRTUAL_DISK;
  const items = [
    {
      itemId: MetadataGuid.fileParameters,
      flags: METADATA_IS_REQUIRED,
      data: FileParameters.encode({ blockSize: layout.blockSize, flags: options.leaveBlockAllocated ? LEAVE_BLOCK_ALLOCATED : 0 }),
    },
    { itemId: MetadataGuid.virtualDiskSize, flags: disk, data: VirtualDiskSize.encode({ size: BigInt(layout.virtualSize) }) },
    { itemId: MetadataGuid.virtualDiskId, flags: disk, data: VirtualDiskId.encode({ id: options.virtualDiskId }) },
    { itemId: MetadataGuid.logicalSectorSize, flags: disk, data: SectorSize.encode({ size: LOGICAL_SECTOR_SIZE }) },
    { itemId: MetadataGuid.physicalSectorSize, flags: disk, data: SectorSize.encode({ size: PHYSICAL_SECTOR_SIZE }) },
  ];
  const bytes = new Uint8Array(Layout.metadataTableSize + items.reduce((sum, item) => sum + item.data.length, 0));
  MetadataTableHeader.encode({ signature: METADATA_SIGNATURE, entryCount: items.length }, bytes);
  let offset = Layout.metadataTableSize;
  items.forEach((item, i) => {
    const entry = { itemId: item.itemId, offset, length: item.data.length, flags: item.flags };
    MetadataTableEntry.encode(entry, bytes, MetadataTableHeader.size + i * MetadataTableEntry.size);
    bytes.set(item.data, offset);
    offset += item.data.length;
  });
  return bytes;
}

/**
 * The BAT's entries, filled in as payload blocks are placed. Sector bitmap entries stay 0 (SB_BLOCK_NOT_PRESENT,
 * the only state valid without a parent). Memory: 8 bytes per entry, checked against Limits.maxTableBytes by
 * planLayout.
 */
export class BatEntries {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  /**
   * Every payload entry starts as `initialState`: ZERO for a dynamic disk (NOT_PRESENT would leave the contents
   * undefined, MS-VHDX 2.5.1.1), with FileOffsetMB 0 (qemu notes Hyper-V refuses a ZERO entry with an offset).
   */
  constructor(
    private readonly layout: VhdxLayout,
    initialState: number,
  ) {
    this.bytes = new Uint8Array(layout.batEntries * BAT_ENTRY_SIZE);
    this.view = new DataView(this.bytes.buffer);
    if (initialState !== 0) {
      for (let block = 0; block < layout.payloadBlocks; block++) this.view.setUint8(this.entryAt(block), initialState);
    }
  }

  /** Marks payload block `block` FULLY_PRESENT at `fileOffset` (a 1 MiB multiple). */
  place(block: number, fileOffset: number): void {
    // Entry = FileOffsetMB << 20 | state, as two 32-bit halves (FileOffsetMB is at most 2^26 for a 64 TiB file).
    const offsetMiB = fileOffset / MiB;
    const at = this.entryAt(block);
    this.view.setUint32(at, (((offsetMiB % 4096) << 20) | BatState.fullyPresent) >>> 0, true);
    this.view.setUint32(at + 4, Math.floor(offsetMiB / 4096), true);
  }

  private entryAt(block: number): number {
    return (block + Math.floor(block / this.layout.chunkRatio)) * BAT_ENTRY_SIZE;
  }
}

/** A fixed disk's BAT: every payload block FULLY_PRESENT, in guest order from the layout's data offset. */
export function fixedBat(layout: VhdxLayout): Uint8Array {
  const bat = new BatEntries(layout, BatState.notPresent);
  for (let block = 0; block < layout.payloadBlocks; block++) bat.place(block, layout.dataOffset + block * layout.blockSize);
  return bat.bytes;
}
