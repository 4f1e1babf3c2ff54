/**
 * OVA bytes built by hand for the tests: ustar/GNU tar headers written field by field (independent of the reader's
 * own header table, so a shared mistake cannot hide), pax records, and OVF descriptors — a bare one for the reader's
 * tests and a VMware-style appliance (osType, firmware, disk formats) for the preflight rules.
 */

/** One tar member as tarOf writes it. */
export interface Member {
  name: string;
  data?: Uint8Array | string;
  /** typeflag character; '0' by default. */
  type?: string;
  linkname?: string;
  /** The header's size field when it should not be the data's length. */
  size?: number;
  magic?: 'posix' | 'gnu';
}

/** A ustar header block for `member` declaring `size` bytes (GNU base-256 past 8 GiB), checksum filled in. */
export function header(member: Member, size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write(member.name, 0, 100, 'utf8');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  if (size < 8 ** 11) block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  else {
    // GNU base-256: 0x80, then the value big-endian in the remaining 11 bytes.
    block[124] = 0x80;
    let value = BigInt(size);
    for (let i = 135; i > 124; i--, value >>= 8n) block[i] = Number(value & 0xffn);
  }
  block.write('14540000000\0', 136, 'latin1');
  block.write(member.type ?? '0', 156, 'latin1');
  if (member.linkname !== undefined) block.write(member.linkname, 157, 100, 'utf8');
  if (member.magic === 'gnu') block.write('ustar  \0', 257, 'latin1');
  else block.write('ustar\u000000', 257, 'latin1');
  fixHeaderSum(block, 0);
  return block;
}

/** The members as a tar: header, data, padding to 512 each; two zero blocks at the end unless `end` is false. */
export function tarOf(members: Member[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const member of members) {
    const data = typeof member.data === 'string' ? Buffer.from(member.data, 'utf8') : Buffer.from(member.data ?? new Uint8Array(0));
    parts.push(header(member, member.size ?? data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Recomputes the checksum of the header at `at` (after an edit), the way tar writes it: 6 octal digits, NUL, space. */
export function fixHeaderSum(bytes: Buffer, at: number): void {
  bytes.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += bytes[i]!;
  bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
}

/** pax records `"<len> key=value\n"`, len counting the whole record. */
export function paxRecords(records: Record<string, string>): string {
  return Object.entries(records).map(([key, value]) => {
    const body = ` ${key}=${value}\n`;
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    return `${length}${body}`;
  }).join('');
}

export const NS = 'xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf"';

/** A bare OVF: Files, Disks (capacity in MiB unless `units` says otherwise), an empty VirtualSystem; `head` goes after the XML declaration. */
export function ovfXml(files: { href: string; extra?: string }[], disks: { file?: number; capacity?: string; units?: string }[] = [{ file: 0 }], head = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?>${head}
<Envelope ${NS}>
  <References>${files.map((f, i) => `<File ovf:href="${f.href}" ovf:id="file${i}"${f.extra ?? ''}/>`).join('')}</References>
  <DiskSection><Info>disks</Info>${disks.map((d, i) => `<Disk ovf:diskId="d${i}"${d.file === undefined ? '' : ` ovf:fileRef="file${d.file}"`} ovf:capacity="${d.capacity ?? '3'}" ovf:capacityAllocationUnits="${d.units ?? 'byte * 2^20'}"/>`).join('')}</DiskSection>
  <VirtualSystem ovf:id="vm"><Info>vm</Info></VirtualSystem>
</Envelope>
`;
}

/** The ovf:format URIs producers write (VMware's for VMDK, Microsoft's for VHD). */
export const FORMAT_URI = {
  streamOptimized: 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
  sparse: 'http://www.vmware.com/interfaces/specifications/vmdk.html#sparse',
  vhd: 'http://technet.microsoft.com/en-us/library/bb676673.aspx',
} as const;

export interface ApplianceDisk {
  /** The File's ovf:href (the tar entry). */
  href: string;
  /** The Disk's ovf:capacity, in bytes. */
  capacity: number;
  /** The Disk's ovf:format URI; none when undefined. */
  format?: string;
  /** The File's ovf:size; none when undefined. */
  size?: number;
  compression?: 'gzip';
}

export interface Appliance {
  disks: ApplianceDisk[];
  /** vmw:osType of the OperatingSystemSection; no section when undefined. */
  osType?: string;
  /** vmw:Config firmware; none when undefined. */
  firmware?: 'efi' | 'bios';
}

/** A one-VM OVF the way ovftool lays it out: every disk on one SCSI controller, firmware in vmw:Config. */
export function applianceOvf(spec: Appliance): string {
  const files = spec.disks.map((d, i) =>
    `<File ovf:href="${d.href}" ovf:id="file${i}"${d.size === undefined ? '' : ` ovf:size="${d.size}"`}${d.compression === undefined ? '' : ` ovf:compression="${d.compression}"`}/>`);
  const disks = spec.disks.map((d, i) =>
    `<Disk ovf:capacity="${d.capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk${i}" ovf:fileRef="file${i}"${d.format === undefined ? '' : ` ovf:format="${d.format}"`}/>`);
  const items = spec.disks.map((_, i) =>
    `<Item><rasd:HostResource>ovf:/disk/vmdisk${i}</rasd:HostResource><rasd:InstanceID>${10 + i}</rasd:InstanceID><rasd:Parent>1</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>`);
  const os = spec.osType === undefined ? '' :
    `<OperatingSystemSection ovf:id="1" vmw:osType="${spec.osType}"><Info>The guest operating system</Info></OperatingSystemSection>`;
  const firmware = spec.firmware === undefined ? '' : `<vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="${spec.firmware}"/>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope ${NS}>
  <References>${files.join('')}</References>
  <DiskSection><Info>Virtual disk information</Info>${disks.join('')}</DiskSection>
  <VirtualSystem ovf:id="vm">
    <Info>A virtual machine</Info>
    <Name>vm</Name>
    ${os}
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      ${items.join('')}
      ${firmware}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}
