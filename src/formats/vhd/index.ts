/**
 * VHD (Microsoft Virtual Hard Disk; qemu's "vpc"): fixed, dynamic and differencing disks (formats.md section 2).
 * A fixed disk is its data followed by a footer; dynamic and differencing disks put a copy of the footer at 0,
 * then the dynamic header, the BAT and the blocks, and the footer again at the end.
 */
import { DiskError } from '../../errors.js';
import { createMappedImage } from '../../image/create.js';
import type { DiskFormat, DiskImage, OpenOptions, Probe } from '../../image/types.js';
import type { ByteSource } from '../../source/types.js';
import { dynamicMap, parentLocators, readBat, readDynamicHeader } from './dynamic.js';
import { chooseFooter, footerDetails, hasCookie, virtualSizeOf, type LocatedFooter } from './footer.js';
import { BAT_UNUSED, DiskType, FOOTER, SECTOR, SPEC_MAX_SIZE } from './structs.js';

export const vhd: DiskFormat = {
  name: 'vhd',
  detect: (probe: Probe) =>
    hasCookie(probe.head) || hasCookie(probe.tail) || (probe.tail?.length === SECTOR && hasCookie(probe.tail, 1)),
  open: openVhd,
};

async function openVhd(source: ByteSource, options: OpenOptions): Promise<DiskImage> {
  const { chosen, notes } = await chooseFooter(source);
  const { footer } = chosen;
  const file = source.name;
  const typeName = diskTypeName(footer.diskType);
  if (typeName === undefined) {
    throw new DiskError('BAD_HEADER', `disk type ${footer.diskType} (2 fixed, 3 dynamic and 4 differencing are defined)`, {
      file, format: 'vhd', offset: chosen.offset + FOOTER.offsetOf('diskType'), field: 'footer.diskType',
    });
  }
  const size = virtualSizeOf(chosen, file);
  const details: Record<string, unknown> = {
    ...footerDetails(chosen),
    currentSize: size.currentSize,
    chsSize: size.chsSize,
    sizeSource: size.sizeSource,
    ...(size.virtualSize > SPEC_MAX_SIZE ? { exceedsSpecMaximum: true } : {}),
    ...notes,
  };
  if (typeName === 'fixed') return openFixed(source, chosen, size.virtualSize, size.sizeSource, details);
  return openDynamic(source, chosen, typeName, size.virtualSize, details, options);
}

function diskTypeName(type: number): 'fixed' | 'dynamic' | 'differencing' | undefined {
  if (type === DiskType.fixed) return 'fixed';
  if (type === DiskType.dynamic) return 'dynamic';
  if (type === DiskType.differencing) return 'differencing';
  return undefined;
}

/** Fixed: the guest bytes are the file's first virtualSize bytes, which must lie before the footer. */
function openFixed(
  source: ByteSource,
  located: LocatedFooter,
  virtualSize: number,
  sizeSource: 'currentSize' | 'chs',
  details: Record<string, unknown>,
): DiskImage {
  if (located.where === 'head') {
    // Only dynamic disks keep a copy at 0; a "fixed" footer there would make the footer part of the data.
    throw new DiskError('BAD_HEADER', 'the footer at offset 0 says fixed, but a fixed disk keeps its footer at the end', {
      file: source.name, format: 'vhd', offset: FOOTER.offsetOf('diskType'), field: 'footer.diskType',
    });
  }
  if (virtualSize > located.offset) {
    const field = sizeSource === 'chs' ? 'footer.diskGeometry' : 'footer.currentSize';
    throw new DiskError(
      'TRUNCATED',
      `the disk is ${virtualSize} bytes (${sizeSource === 'chs' ? 'by its CHS geometry' : 'by currentSize'}) but only ${located.offset} bytes of data precede the footer`,
      { file: source.name, format: 'vhd', offset: located.offset, field },
    );
  }
  return createMappedImage({
    format: 'vhd',
    subformat: 'fixed',
    virtualSize,
    allocatedSize: virtualSize,
    details,
    source,
    map: async (offset) => ({ kind: 'data', length: virtualSize - offset, source, hostOffset: offset }),
  });
}

async function openDynamic(
  source: ByteSource,
  located: LocatedFooter,
  subformat: 'dynamic' | 'differencing',
  virtualSize: number,
  details: Record<string, unknown>,
  options: OpenOptions,
): Promise<DiskImage> {
  const head = await readDynamicHeader(source, located.footer.dataOffset, located.offset);
  const { header } = head;
  details.blockSize = head.blockSize;
  details.maxTableEntries = header.maxTableEntries;
  let parent: DiskImage | undefined;
  if (subformat === 'differencing') {
    const parentFacts = {
      name: header.parentUnicodeName,
      uniqueId: header.parentUniqueId,
      timeStamp: new Date(Date.UTC(2000, 0, 1) + header.parentTimeStamp * 1000).toISOString(),
      locators: parentLocators(head.headerBytes),
    };
    details.parent = parentFacts;
    parent = options.parent;
    if (parent === undefined) {
      throw new DiskError(
        'PARENT_REQUIRED',
        `differencing VHD: its unallocated sectors come from the parent ${JSON.stringify(header.parentUnicodeName)} (unique id ${header.parentUniqueId}); give that parent image`,
        { file: source.name, format: 'vhd', offset: head.headerOffset + 0x40, field: 'dynamicHeader.parentUnicodeName' },
      );
    }
    const parentId = parent.details.uniqueId;
    if (typeof parentId === 'string') details.parentUniqueIdMatches = parentId === header.parentUniqueId;
  }
  const { bat, tableOffset } = await readBat(source, head, virtualSize);
  details.tableOffset = tableOffset;

  let allocatedBlocks = 0;
  let allocatedSize = 0;
  for (let block = 0; block < bat.length; block++) {
    if (bat[block] === BAT_UNUSED) continue;
    allocatedBlocks++;
    allocatedSize += Math.max(0, Math.min(head.blockSize, virtualSize - block * head.blockSize));
  }
  details.allocatedBlocks = allocatedBlocks;

  const layout = { ...head, bat, tableOffset };
  return createMappedImage({
    format: 'vhd',
    subformat,
    virtualSize,
    allocatedSize,
    details,
    source,
    map: dynamicMap({ source, layout, virtualSize, parent }),
  });
}
