/**
 * The metadata region (MS-VHDX 2.6): a table of items giving block size, virtual size, sector sizes and, for a
 * differencing disk, the parent locator. Nothing checksums this region, so every entry is range-checked against
 * the region before it is read.
 */
import { Limits } from '../../limits.js';
import { readChecked } from '../../source/check.js';
import type { ByteSource } from '../../source/types.js';
import { vhdxError } from './fail.js';
import type { Region } from './headers.js';
import {
  FileParameters, HAS_PARENT, LEAVE_BLOCK_ALLOCATED, Layout, METADATA_IS_REQUIRED, METADATA_SIGNATURE, MetadataGuid,
  MetadataTableEntry, MetadataTableHeader, ParentLocatorEntry, ParentLocatorHeader, SectorSize, VirtualDiskId,
  VirtualDiskSize,
} from './structs.js';

const FORMAT = 'vhdx';

type ItemName = keyof typeof MetadataGuid;
/** Exact lengths of the fixed-size items (2.6.2); the parent locator is variable. */
const ITEM_LENGTH: Record<Exclude<ItemName, 'parentLocator'>, number> = {
  fileParameters: FileParameters.size,
  virtualDiskSize: VirtualDiskSize.size,
  virtualDiskId: VirtualDiskId.size,
  logicalSectorSize: SectorSize.size,
  physicalSectorSize: SectorSize.size,
};
const NAME_BY_GUID = new Map<string, ItemName>(Object.entries(MetadataGuid).map(([name, guid]) => [guid, name as ItemName]));

export interface Metadata {
  readonly blockSize: number;
  readonly leaveBlockAllocated: boolean;
  readonly hasParent: boolean;
  readonly virtualSize: number;
  readonly logicalSectorSize: number;
  readonly physicalSectorSize: number;
  readonly virtualDiskId: string;
  /** Parent locator key/value pairs (differencing disks), when present and well formed. */
  readonly parentLocator: Readonly<Record<string, string>> | undefined;
  /** File offsets of the items, for error reports. */
  readonly itemOffsets: Readonly<Partial<Record<ItemName, number>>>;
}

/** Reads the metadata table, then the known items in ascending file order (so a pipe can supply them). */
export async function readMetadata(source: ByteSource, region: Region): Promise<Metadata> {
  const table = await readChecked(source, region.offset, Layout.metadataTableSize, { format: FORMAT, field: 'metadata_table' });
  const header = MetadataTableHeader.decode(table);
  if (header.signature !== METADATA_SIGNATURE) {
    throw vhdxError(source, 'BAD_MAGIC', 'the metadata table lacks its "metadata" signature', region.offset, 'metadata_table.signature');
  }
  if (header.entryCount > Layout.maxMetadataEntries) {
    throw vhdxError(source, 'BAD_HEADER', `metadata entry count ${header.entryCount} exceeds ${Layout.maxMetadataEntries}`, region.offset, 'metadata_table.entry_count');
  }

  const items = new Map<ItemName, { offset: number; length: number; entryAt: number }>();
  for (let i = 0; i < header.entryCount; i++) {
    const at = MetadataTableHeader.size + i * MetadataTableEntry.size;
    const entry = MetadataTableEntry.decode(table, at);
    const entryAt = region.offset + at;
    const name = NAME_BY_GUID.get(entry.itemId);
    if (name === undefined) {
      if (entry.flags & METADATA_IS_REQUIRED) {
        throw vhdxError(source, 'UNSUPPORTED_FEATURE', `required metadata item ${entry.itemId} is not one this reader knows`, entryAt, `metadata[${i}].flags`);
      }
      continue;
    }
    if (items.has(name)) throw vhdxError(source, 'BAD_HEADER', `metadata item ${name} is listed twice`, entryAt, `metadata.${name}`);
    const expected = name === 'parentLocator' ? undefined : ITEM_LENGTH[name];
    if (expected !== undefined && entry.length !== expected) {
      throw vhdxError(source, 'BAD_HEADER', `metadata item ${name} is ${entry.length} bytes, not ${expected}`, entryAt, `metadata.${name}.length`);
    }
    if (entry.offset < Layout.metadataTableSize) {
      throw vhdxError(source, 'BAD_HEADER', `metadata item ${name} starts at ${entry.offset}, inside the metadata table`, entryAt, `metadata.${name}.offset`);
    }
    if (entry.offset + entry.length > region.length) {
      throw vhdxError(source, 'OFFSET_OUT_OF_RANGE', `metadata item ${name} (${entry.offset}+${entry.length}) runs past the ${region.length}-byte metadata region`, entryAt, `metadata.${name}.offset`);
    }
    items.set(name, { offset: entry.offset, length: entry.length, entryAt });
  }
  for (const name of Object.keys(ITEM_LENGTH) as ItemName[]) {
    if (!items.has(name)) {
      throw vhdxError(source, 'BAD_HEADER', `the required metadata item ${name} is missing`, region.offset, `metadata.${name}`);
    }
  }

  // Ascending offset order keeps a forward-only source moving forward.
  const bytes = new Map<ItemName, Uint8Array>();
  for (const [name, item] of [...items].sort((a, b) => a[1].offset - b[1].offset)) {
    const max = name === 'parentLocator' ? Limits.maxDescriptorBytes : undefined;
    bytes.set(name, await readChecked(source, region.offset + item.offset, item.length, { format: FORMAT, field: `metadata.${name}`, ...(max === undefined ? {} : { max }) }));
  }
  const itemOffsets: Partial<Record<ItemName, number>> = {};
  for (const [name, item] of items) itemOffsets[name] = region.offset + item.offset;
  const at = (name: ItemName) => itemOffsets[name]!;

  const parameters = FileParameters.decode(bytes.get('fileParameters')!);
  const { blockSize } = parameters;
  if (blockSize < Layout.minBlockSize || blockSize > Layout.maxBlockSize || (blockSize & (blockSize - 1)) !== 0) {
    throw vhdxError(source, 'BAD_HEADER', `block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`, at('fileParameters'), 'file_parameters.block_size');
  }
  const logicalSectorSize = SectorSize.decode(bytes.get('logicalSectorSize')!).size;
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096) {
    throw vhdxError(source, 'BAD_HEADER', `logical sector size ${logicalSectorSize} is neither 512 nor 4096`, at('logicalSectorSize'), 'logical_sector_size');
  }
  const physicalSectorSize = SectorSize.decode(bytes.get('physicalSectorSize')!).size;
  if (physicalSectorSize !== 512 && physicalSectorSize !== 4096) {
    throw vhdxError(source, 'BAD_HEADER', `physical sector size ${physicalSectorSize} is neither 512 nor 4096`, at('physicalSectorSize'), 'physical_sector_size');
  }
  const sizeAt = at('virtualDiskSize');
  const declaredSize = VirtualDiskSize.decode(bytes.get('virtualDiskSize')!).size;
  if (declaredSize > BigInt(Limits.maxVirtualSize)) {
    throw vhdxError(source, 'LIMIT_EXCEEDED', `virtual disk size ${declaredSize} exceeds the maximum of ${Limits.maxVirtualSize}`, sizeAt, 'virtual_disk_size');
  }
  const virtualSize = Number(declaredSize);
  if (virtualSize > Layout.maxVirtualSize) {
    throw vhdxError(source, 'BAD_HEADER', `virtual disk size ${virtualSize} exceeds VHDX's 64 TiB maximum`, sizeAt, 'virtual_disk_size');
  }
  if (virtualSize % logicalSectorSize !== 0) {
    throw vhdxError(source, 'BAD_HEADER', `virtual disk size ${virtualSize} is not a multiple of the ${logicalSectorSize}-byte logical sector`, sizeAt, 'virtual_disk_size');
  }
  const locator = bytes.get('parentLocator');
  return {
    blockSize,
    leaveBlockAllocated: (parameters.flags & LEAVE_BLOCK_ALLOCATED) !== 0,
    hasParent: (parameters.flags & HAS_PARENT) !== 0,
    virtualSize,
    logicalSectorSize,
    physicalSectorSize,
    virtualDiskId: VirtualDiskId.decode(bytes.get('virtualDiskId')!).id,
    parentLocator: locator === undefined ? undefined : parseParentLocator(locator),
    itemOffsets,
  };
}

/**
 * Parent locator key/value pairs (2.6.2.6), best effort: it only feeds the PARENT_REQUIRED message, so a
 * malformed locator yields undefined rather than an error of its own.
 */
function parseParentLocator(bytes: Uint8Array): Record<string, string> | undefined {
  if (bytes.length < ParentLocatorHeader.size) return undefined;
  const { keyValueCount } = ParentLocatorHeader.decode(bytes);
  if (ParentLocatorHeader.size + keyValueCount * ParentLocatorEntry.size > bytes.length) return undefined;
  const text = (offset: number, length: number): string | undefined =>
    offset + length > bytes.length || length % 2 !== 0 ? undefined : Buffer.from(bytes.subarray(offset, offset + length)).toString('utf16le');
  const pairs: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < keyValueCount; i++) {
    const entry = ParentLocatorEntry.decode(bytes, ParentLocatorHeader.size + i * ParentLocatorEntry.size);
    const key = text(entry.keyOffset, entry.keyLength);
    const value = text(entry.valueOffset, entry.valueLength);
    if (key === undefined || value === undefined) return undefined;
    pairs[key] = value;
  }
  return pairs;
}
