/**
 * The OVF descriptor (DSP0243 1.x and 2.x; formats.md 6.3): the package's files, its disks with their capacity and
 * controller, and the facts VM Import cares about (OS, firmware, CPUs, memory). Elements and attributes are matched
 * by local name, since producers bind the same namespaces to any prefix.
 */
import { DiskError } from '../../errors.js';
import { Limits } from '../../limits.js';
import { memberName } from './catalog.js';
import { ovaError } from './fail.js';
import type { OvfDescriptor, OvfDisk, OvfFile } from './types.js';
import {
  attribute,
  childNamed,
  childrenNamed,
  findNamed,
  namespaceOf,
  parseXml,
  XmlProblem,
  type XmlElement,
} from './xml.js';

/** Where the descriptor came from, for errors: the OVA, the entry name, the offset of the entry's tar header. */
export interface OvfOrigin {
  file: string;
  entry: string;
  offset: number;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes and parses the descriptor's bytes. */
export function parseOvf(bytes: Uint8Array, origin: OvfOrigin): OvfDescriptor {
  const fail = (code: DiskError['code'], message: string, field = 'ovf') =>
    ovaError(origin.file, code, `${origin.entry}: ${message}`, origin.offset, field);
  let text: string;
  try {
    text = decodeText(bytes);
  } catch {
    throw fail('OVF_INVALID_XML', 'the descriptor is not valid UTF-8 or UTF-16 text');
  }
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (error) {
    if (error instanceof XmlProblem) throw fail(error.code, error.message);
    throw error;
  }
  if (root.name !== 'Envelope') throw fail('BAD_DESCRIPTOR', `the root element is ${root.qname}, not an OVF Envelope`);
  return describe(root, fail);
}

/** UTF-8 unless a UTF-16 byte-order mark says otherwise (the XML spec's two mandatory encodings). */
function decodeText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le', { fatal: true }).decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be', { fatal: true }).decode(bytes.subarray(2));
  return UTF8.decode(bytes).replace(/^\uFEFF/, '');
}

type Fail = (code: DiskError['code'], message: string, field?: string) => DiskError;

function describe(root: XmlElement, fail: Fail): OvfDescriptor {
  const version = envelopeVersion(root);
  const files = readFiles(root, fail);
  const system = findNamed(root, 'VirtualSystem');
  const hardware = system === undefined ? undefined : childNamed(system, 'VirtualHardwareSection');
  const items = hardware === undefined ? [] : hardware.children.filter((c) => /^(Item|StorageItem|EthernetPortItem)$/.test(c.name));
  const disks = readDisks(root, files, items, fail);
  const descriptor: OvfDescriptor = { version, files, disks, networks: items.filter((item) => resourceType(item) === 10).length };
  if (system !== undefined) describeSystem(system, hardware, items, descriptor);
  return descriptor;
}

/** 2 for the OVF 2 envelope namespace (or ovf:version 2.x on a root without one), else 1. */
function envelopeVersion(root: XmlElement): 1 | 2 {
  const uri = namespaceOf(root) ?? '';
  if (/\/ovf\/envelope\/2\/?$/.test(uri)) return 2;
  if (/\/ovf\/envelope\/1\/?$/.test(uri)) return 1;
  return /^2(\.|$)/.test(attribute(root, 'version') ?? '') ? 2 : 1;
}

function readFiles(root: XmlElement, fail: Fail): OvfFile[] {
  const references = childNamed(root, 'References');
  if (references === undefined) return [];
  return childrenNamed(references, 'File').map((element, index) => {
    const field = `References/File[${index}]`;
    const id = attribute(element, 'id');
    const href = attribute(element, 'href');
    if (id === undefined || href === undefined) throw fail('BAD_DESCRIPTOR', `File ${index + 1} lacks ovf:id or ovf:href`, field);
    const name = memberName(href);
    if (name === undefined) throw fail('OVA_UNSAFE_PATH', `File ${JSON.stringify(id)} refers to ${JSON.stringify(href)}, outside the package`, `${field}/href`);
    const file: OvfFile = { id, href: name };
    const size = optionalInteger(attribute(element, 'size'), `${field}/size`, fail);
    if (size !== undefined) file.size = size;
    const compression = attribute(element, 'compression');
    if (compression === 'gzip') file.compression = 'gzip';
    else if (compression !== undefined && compression !== 'identity') {
      throw fail('UNSUPPORTED_FEATURE', `File ${JSON.stringify(id)} is compressed with ${JSON.stringify(compression)} (OVF defines gzip only)`, `${field}/compression`);
    }
    const chunkSize = optionalInteger(attribute(element, 'chunkSize'), `${field}/chunkSize`, fail);
    if (chunkSize !== undefined) file.chunkSize = chunkSize;
    return file;
  });
}

function readDisks(root: XmlElement, files: OvfFile[], items: XmlElement[], fail: Fail): OvfDisk[] {
  const section = findNamed(root, 'DiskSection');
  if (section === undefined) return [];
  const byId = new Map(files.map((file) => [file.id, file]));
  return childrenNamed(section, 'Disk').map((element, index) => {
    const field = `DiskSection/Disk[${index}]`;
    const diskId = attribute(element, 'diskId');
    if (diskId === undefined) throw fail('BAD_DESCRIPTOR', `Disk ${index + 1} has no ovf:diskId`, field);
    const capacity = capacityBytes(attribute(element, 'capacity'), attribute(element, 'capacityAllocationUnits'), field, fail);
    const disk: OvfDisk = { diskId, capacity };
    const fileRef = attribute(element, 'fileRef');
    if (fileRef !== undefined) {
      disk.fileRef = fileRef;
      const file = byId.get(fileRef);
      if (file === undefined) throw fail('OVA_MISSING_FILE', `Disk ${JSON.stringify(diskId)} refers to File ${JSON.stringify(fileRef)}, which References does not list`, `${field}/fileRef`);
      disk.href = file.href;
    }
    const populated = optionalInteger(attribute(element, 'populatedSize'), `${field}/populatedSize`, fail);
    if (populated !== undefined) disk.populatedSize = populated;
    const format = attribute(element, 'format');
    if (format !== undefined) {
      disk.format = format;
      const name = formatName(format);
      if (name !== undefined) disk.formatName = name;
    }
    const controller = controllerOf(diskId, items);
    if (controller !== undefined) disk.controller = controller;
    return disk;
  });
}

function optionalInteger(value: string | undefined, field: string, fail: Fail): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^[0-9]{1,16}$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
    throw fail('BAD_DESCRIPTOR', `${field} is ${JSON.stringify(value)}, not a byte count`, field);
  }
  return Number(trimmed);
}

/**
 * capacity x capacityAllocationUnits in bytes. Units are a DMTF programmatic unit (DSP0004 Annex C): `byte`, then
 * factors `* B^E` or `* N` (`byte * 2^30`); a few producers write KiloBytes/MegaBytes/GigaBytes. Absent = bytes.
 * The result is untrusted: a safe integer no larger than Limits.maxVirtualSize, else BAD_HEADER.
 */
export function capacityBytes(capacity: string | undefined, units: string | undefined, field: string, fail: Fail): number {
  const bad = (why: string) => fail('BAD_HEADER', `capacity ${why}`, `${field}/capacity`);
  if (capacity === undefined) throw bad('is missing');
  const count = capacity.trim();
  if (!/^[0-9]{1,20}$/.test(count)) throw bad(`${JSON.stringify(capacity)} is not a whole number`);
  const multiplier = unitMultiplier(units);
  if (multiplier === undefined) throw bad(`units ${JSON.stringify(units)} are not a byte unit`);
  const bytes = BigInt(count) * multiplier;
  if (bytes > BigInt(Limits.maxVirtualSize)) throw bad(`of ${bytes} bytes exceeds the maximum of ${Limits.maxVirtualSize}`);
  return Number(bytes);
}

const LEGACY_UNITS: Record<string, bigint> = {
  bytes: 1n, kilobytes: 1n << 10n, megabytes: 1n << 20n, gigabytes: 1n << 30n, terabytes: 1n << 40n,
  kb: 1n << 10n, mb: 1n << 20n, gb: 1n << 30n, tb: 1n << 40n,
};

/** Bytes per unit, or undefined for anything that is not a byte unit. Exponents are capped so nothing explodes. */
export function unitMultiplier(units: string | undefined): bigint | undefined {
  if (units === undefined) return 1n;
  const compact = units.replace(/\s+/g, '').toLowerCase();
  if (compact === '') return 1n;
  if (compact in LEGACY_UNITS) return LEGACY_UNITS[compact];
  const [base, ...factors] = compact.split('*');
  if (base !== 'byte' && base !== 'bytes') return undefined;
  let multiplier = 1n;
  for (const factor of factors) {
    const power = /^([0-9]{1,4})\^([0-9]{1,3})$/.exec(factor);
    if (power !== null) {
      const exponent = BigInt(power[2]!);
      if (exponent > 64n) return undefined;
      multiplier *= BigInt(power[1]!) ** exponent;
    } else if (/^[0-9]{1,12}$/.test(factor)) multiplier *= BigInt(factor);
    else return undefined;
    if (multiplier > 1n << 64n) return undefined;
  }
  return multiplier;
}

/** A short name for the ovf:format URI (the common ones; formats.md 6.3). */
export function formatName(uri: string): string | undefined {
  const lower = uri.toLowerCase();
  if (lower.includes('vmdk')) {
    const fragment = uri.split('#')[1];
    return fragment === undefined || fragment === '' ? 'vmdk' : `vmdk-${fragment}`;
  }
  if (lower.includes('bb676673')) return 'vhd';
  if (lower.includes('linkid=226524') || lower.includes('vhdx')) return 'vhdx';
  if (lower.includes('qcow')) return 'qcow2';
  if (/\braw\b/.test(lower)) return 'raw';
  return undefined;
}

function itemText(item: XmlElement, name: string): string | undefined {
  return childNamed(item, name)?.text;
}

function resourceType(item: XmlElement): number | undefined {
  const value = itemText(item, 'ResourceType');
  return value === undefined || !/^[0-9]{1,5}$/.test(value) ? undefined : Number(value);
}

/** The controller of the disk Item whose HostResource is `ovf:/disk/<diskId>` (VMware) or `/disk/<diskId>` (VirtualBox). */
function controllerOf(diskId: string, items: XmlElement[]): string | undefined {
  const diskItem = items.find((item) => {
    const host = itemText(item, 'HostResource')?.replace(/^ovf:/, '');
    return host === `/disk/${diskId}`;
  });
  const parentId = diskItem === undefined ? undefined : itemText(diskItem, 'Parent');
  if (parentId === undefined) return undefined;
  const parent = items.find((item) => itemText(item, 'InstanceID') === parentId);
  if (parent === undefined) return undefined;
  const subtype = itemText(parent, 'ResourceSubType') ?? '';
  switch (resourceType(parent)) {
    case 5:
      return 'ide';
    case 6:
      return subtype === '' ? 'scsi' : `scsi:${subtype.toLowerCase()}`;
    case 20: {
      const lower = subtype.toLowerCase();
      if (lower.includes('sata') || lower.includes('ahci')) return 'sata';
      if (lower.includes('nvme')) return 'nvme';
      return subtype === '' ? 'other' : `other:${lower}`;
    }
    default:
      return undefined;
  }
}

function describeSystem(system: XmlElement, hardware: XmlElement | undefined, items: XmlElement[], out: OvfDescriptor): void {
  const name = childNamed(system, 'Name')?.text || attribute(system, 'id');
  if (name) out.name = name;
  const product = findNamed(system, 'ProductSection');
  const productName = product === undefined ? undefined : childNamed(product, 'Product')?.text;
  if (productName) out.product = productName;
  const os = childNamed(system, 'OperatingSystemSection');
  if (os !== undefined) {
    const id = attribute(os, 'id');
    if (id !== undefined && /^[0-9]{1,5}$/.test(id.trim())) out.osId = Number(id.trim());
    const osType = attribute(os, 'osType') ?? childNamed(os, 'OSType')?.text;
    if (osType) out.osType = osType;
    const description = childNamed(os, 'Description')?.text;
    if (description) out.osDescription = description;
  }
  if (hardware !== undefined) {
    const systemType = childNamed(hardware, 'System');
    const type = systemType === undefined ? undefined : childNamed(systemType, 'VirtualSystemType')?.text;
    if (type) out.virtualSystemType = type;
    configFacts(hardware, out);
  }
  const cpu = items.find((item) => resourceType(item) === 3);
  const cpus = cpu === undefined ? undefined : wholeNumber(itemText(cpu, 'VirtualQuantity'));
  if (cpus !== undefined) out.cpus = cpus;
  const memory = items.find((item) => resourceType(item) === 4);
  if (memory !== undefined) {
    const quantity = wholeNumber(itemText(memory, 'VirtualQuantity'));
    const unit = unitMultiplier(itemText(memory, 'AllocationUnits') ?? 'byte * 2^20');
    if (quantity !== undefined && unit !== undefined) {
      const mib = (BigInt(quantity) * unit) >> 20n;
      if (mib <= BigInt(Number.MAX_SAFE_INTEGER)) out.memoryMiB = Number(mib);
    }
  }
  // VirtualBox keeps its firmware in its own machine section: vbox:Machine/Hardware/Firmware type="EFI".
  if (out.firmware === undefined) {
    const machine = childNamed(system, 'Machine');
    const hardwareNode = machine === undefined ? undefined : childNamed(machine, 'Hardware');
    const firmware = hardwareNode === undefined ? undefined : childNamed(hardwareNode, 'Firmware');
    const type = firmware === undefined ? undefined : attribute(firmware, 'type')?.toUpperCase();
    if (type?.startsWith('EFI')) out.firmware = 'efi';
    else if (type === 'BIOS') out.firmware = 'bios';
  }
}

function wholeNumber(value: string | undefined): number | undefined {
  return value !== undefined && /^[0-9]{1,12}$/.test(value) ? Number(value) : undefined;
}

/** vmw:Config / vmw:ExtraConfig key=value pairs: firmware (efi|bios) and the secure-boot switches. */
function configFacts(hardware: XmlElement, out: OvfDescriptor): void {
  for (const config of hardware.children.filter((c) => c.name === 'Config' || c.name === 'ExtraConfig')) {
    const key = attribute(config, 'key');
    const value = attribute(config, 'value')?.trim().toLowerCase();
    if (key === undefined || value === undefined) continue;
    if (key === 'firmware' && (value === 'efi' || value === 'bios')) out.firmware = value;
    if (key === 'uefi.secureBoot.enabled' || key === 'bootOptions.efiSecureBootEnabled') out.secureBoot = value === 'true';
  }
}
