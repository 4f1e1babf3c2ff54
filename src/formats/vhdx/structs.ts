/**
 * VHDX on-disk structures, from Microsoft's [MS-VHDX] "Virtual Hard Disk v2 (VHDX) File Format" (section numbers
 * below). Everything is little-endian; GUIDs are in Microsoft's mixed-endian layout and decode to the canonical
 * upper-case string.
 */
import { defineStruct } from '../../struct/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Fixed file offsets of the header section (2.1): everything else is located through the region table. */
export const Layout = {
  fileIdentifier: 0,
  headers: [0x10000, 0x20000] as const,
  regionTables: [0x30000, 0x40000] as const,
  /** The header section is 1 MiB; regions, the log and payload blocks live at or after it. */
  headerSectionSize: 1 * MiB,
  /** Objects after the header section are 1 MiB aligned (2.2, 2.5). */
  alignment: 1 * MiB,
  headerChecked: 4 * KiB,
  regionTableSize: 64 * KiB,
  /** Metadata table: 64 KiB at the start of the metadata region; items lie at or after 64 KiB (2.6.1). */
  metadataTableSize: 64 * KiB,
  maxRegionEntries: 2047,
  maxMetadataEntries: 2047,
  /** The format's own maximum virtual disk size (2.6.2.2). */
  maxVirtualSize: 64 * 1024 * 1024 * MiB,
  minBlockSize: 1 * MiB,
  maxBlockSize: 256 * MiB,
} as const;

/** 2.1 File Type Identifier: "vhdxfile" then the creator application's name. */
export const FileIdentifier = defineStruct('vhdx.file_identifier', 8 + 512, {
  signature: [0, 'ascii', 8],
  creator: [8, 'utf16le', 512],
});
export const FILE_SIGNATURE = 'vhdxfile';

/** 2.2.2 Header: checked over its first 4 KiB with the checksum field zeroed. */
export const Header = defineStruct('vhdx.header', 4 * KiB, {
  signature: [0x00, 'ascii', 4],
  checksum: [0x04, 'u32le'],
  sequenceNumber: [0x08, 'u64le'],
  fileWriteGuid: [0x10, 'guid'],
  dataWriteGuid: [0x20, 'guid'],
  logGuid: [0x30, 'guid'],
  logVersion: [0x40, 'u16le'],
  version: [0x42, 'u16le'],
  logLength: [0x44, 'u32le'],
  logOffset: [0x48, 'u64le'],
});
export const HEADER_SIGNATURE = 'head';

/** 2.2.3 Region table header; entries follow at 16. The whole 64 KiB is checksummed. */
export const RegionTableHeader = defineStruct('vhdx.region_table', 16, {
  signature: [0x00, 'ascii', 4],
  checksum: [0x04, 'u32le'],
  entryCount: [0x08, 'u32le'],
});
export const REGION_TABLE_SIGNATURE = 'regi';

/** 2.2.3.1 Region table entry. */
export const RegionTableEntry = defineStruct('vhdx.region_entry', 32, {
  guid: [0x00, 'guid'],
  fileOffset: [0x10, 'u64le'],
  length: [0x18, 'u32le'],
  /** Bit 0: a reader that does not know this region must not open the file. */
  required: [0x1c, 'u32le'],
});
export const REGION_IS_REQUIRED = 0x1;

export const RegionGuid = {
  bat: '2DC27766-F623-4200-9D64-115E9BFD4A08',
  metadata: '8B7CA206-4790-4B9A-B8FE-575F050F886E',
} as const;

/** 2.6.1.1 Metadata table header; 32-byte entries follow at 32. No checksum protects the metadata region. */
export const MetadataTableHeader = defineStruct('vhdx.metadata_table', 32, {
  signature: [0x00, 'ascii', 8],
  entryCount: [0x0a, 'u16le'],
});
export const METADATA_SIGNATURE = 'metadata';

/** 2.6.1.2 Metadata table entry: Offset is from the start of the metadata region. */
export const MetadataTableEntry = defineStruct('vhdx.metadata_entry', 32, {
  itemId: [0x00, 'guid'],
  offset: [0x10, 'u32le'],
  length: [0x14, 'u32le'],
  /** Bit 0 IsUser, bit 1 IsVirtualDisk, bit 2 IsRequired. */
  flags: [0x18, 'u32le'],
});
export const METADATA_IS_REQUIRED = 0x4;
export const METADATA_IS_VIRTUAL_DISK = 0x2;

export const MetadataGuid = {
  fileParameters: 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B',
  virtualDiskSize: '2FA54224-CD1B-4876-B211-5DBED83BF4B8',
  virtualDiskId: 'BECA12AB-B2E6-4523-93EF-C309E000C746',
  logicalSectorSize: '8141BF1D-A96F-4709-BA47-F233A8FAAB5F',
  physicalSectorSize: 'CDA348C7-445D-4471-9CC9-E9885251C556',
  parentLocator: 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C',
} as const;

/** 2.6.2.1 File Parameters. */
export const FileParameters = defineStruct('vhdx.file_parameters', 8, {
  blockSize: [0, 'u32le'],
  /** Bit 0 LeaveBlockAllocated (a fixed disk), bit 1 HasParent (a differencing disk). */
  flags: [4, 'u32le'],
});
export const LEAVE_BLOCK_ALLOCATED = 0x1;
export const HAS_PARENT = 0x2;

/** 2.6.2.2 Virtual Disk Size. */
export const VirtualDiskSize = defineStruct('vhdx.virtual_disk_size', 8, { size: [0, 'u64le'] });
/** 2.6.2.3 Virtual Disk ID (the SCSI page 83 identifier). */
export const VirtualDiskId = defineStruct('vhdx.virtual_disk_id', 16, { id: [0, 'guid'] });
/** 2.6.2.4 / 2.6.2.5 Logical and Physical Sector Size. */
export const SectorSize = defineStruct('vhdx.sector_size', 4, { size: [0, 'u32le'] });

/** 2.6.2.6 Parent Locator header; key/value entries follow at 20. */
export const ParentLocatorHeader = defineStruct('vhdx.parent_locator', 20, {
  locatorType: [0x00, 'guid'],
  keyValueCount: [0x12, 'u16le'],
});
/** 2.6.2.6.1 Parent Locator entry: offsets from the start of the locator item, UTF-16LE strings. */
export const ParentLocatorEntry = defineStruct('vhdx.parent_locator_entry', 12, {
  keyOffset: [0x00, 'u32le'],
  valueOffset: [0x04, 'u32le'],
  keyLength: [0x08, 'u16le'],
  valueLength: [0x0a, 'u16le'],
});
export const VHDX_PARENT_LOCATOR_TYPE = 'B04AEFB7-D19E-4A81-B789-25B8E9445913';

/** 2.5.1 BAT entry states (bits 0-2); bits 20-63 are the file offset in MiB. */
export const BatState = {
  notPresent: 0,
  undefined: 1,
  zero: 2,
  unmapped: 3,
  fullyPresent: 6,
  partiallyPresent: 7,
} as const;
export const BAT_ENTRY_SIZE = 8;
