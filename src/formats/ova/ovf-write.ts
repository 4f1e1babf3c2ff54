/**
 * Writes an OVF 1.0 descriptor (DSP0243 1.x, the version VM Import and every VMware tool read) for a virtual
 * machine of streamOptimized VMDK disks: References, DiskSection (capacity in bytes, the streamOptimized format
 * URI), one VirtualSystem with its OS, CPU, memory, a SCSI controller holding the disks, and VMware's firmware key
 * (efi when the boot disk boots only by UEFI, else bios). Built with fast-xml-parser's builder, which escapes every text and attribute.
 */
import { XMLBuilder } from 'fast-xml-parser';

/** The disk format URI VMware and VM Import expect for streamOptimized VMDKs. */
export const STREAM_OPTIMIZED_URI = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

export interface OvfSpec {
  /** The virtual machine's name (VirtualSystem id and Name). */
  name: string;
  disks: readonly { href: string; capacity: number }[];
  /** VMware's firmware key (vmw:Config firmware), read by VM Import and ESXi; default bios. */
  firmware?: 'bios' | 'efi';
  /** CIM OS id (OperatingSystemSection ovf:id): 1 Other, 36 Linux, 101 Other Linux 64-bit, 103 Windows 64-bit... */
  osId?: number;
  osDescription?: string;
  cpus?: number;
  memoryMiB?: number;
}

const NAMESPACES = {
  '@_xmlns': 'http://schemas.dmtf.org/ovf/envelope/1',
  '@_xmlns:ovf': 'http://schemas.dmtf.org/ovf/envelope/1',
  '@_xmlns:cim': 'http://schemas.dmtf.org/wbem/wscim/1/common',
  '@_xmlns:rasd': 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData',
  '@_xmlns:vssd': 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData',
  '@_xmlns:vmw': 'http://www.vmware.com/schema/ovf',
  '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
};

/** rasd:ResourceType values (CIM_ResourceAllocationSettingData). */
const ResourceType = { processor: 3, memory: 4, scsiController: 6, disk: 17 } as const;

export function buildOvf(spec: OvfSpec): string {
  const diskId = (index: number) => `vmdisk${index + 1}`;
  const fileId = (index: number) => `file${index + 1}`;
  const controllerInstance = 3;
  const items = [
    item(1, ResourceType.processor, `${spec.cpus ?? 1} virtual CPU(s)`, {
      'rasd:AllocationUnits': 'hertz * 10^6',
      'rasd:VirtualQuantity': spec.cpus ?? 1,
    }),
    item(2, ResourceType.memory, `${spec.memoryMiB ?? 1024}MB of memory`, {
      'rasd:AllocationUnits': 'byte * 2^20',
      'rasd:VirtualQuantity': spec.memoryMiB ?? 1024,
    }),
    item(controllerInstance, ResourceType.scsiController, 'SCSI Controller 0', { 'rasd:Address': 0, 'rasd:ResourceSubType': 'lsilogic' }),
    ...spec.disks.map((_, index) =>
      item(controllerInstance + 1 + index, ResourceType.disk, `Hard Disk ${index + 1}`, {
        'rasd:AddressOnParent': index,
        'rasd:HostResource': `ovf:/disk/${diskId(index)}`,
        'rasd:Parent': controllerInstance,
      }),
    ),
  ];
  const envelope = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    Envelope: {
      ...NAMESPACES,
      References: {
        File: spec.disks.map((disk, index) => ({ '@_ovf:href': disk.href, '@_ovf:id': fileId(index) })),
      },
      DiskSection: {
        Info: 'Virtual disk information',
        Disk: spec.disks.map((disk, index) => ({
          '@_ovf:capacity': disk.capacity,
          '@_ovf:capacityAllocationUnits': 'byte',
          '@_ovf:diskId': diskId(index),
          '@_ovf:fileRef': fileId(index),
          '@_ovf:format': STREAM_OPTIMIZED_URI,
        })),
      },
      VirtualSystem: {
        '@_ovf:id': spec.name,
        Info: 'A virtual machine',
        Name: spec.name,
        OperatingSystemSection: {
          '@_ovf:id': spec.osId ?? 1,
          Info: 'The kind of installed guest operating system',
          ...(spec.osDescription === undefined ? {} : { Description: spec.osDescription }),
        },
        VirtualHardwareSection: {
          Info: 'Virtual hardware requirements',
          System: {
            'vssd:ElementName': 'Virtual Hardware Family',
            'vssd:InstanceID': 0,
            'vssd:VirtualSystemIdentifier': spec.name,
            'vssd:VirtualSystemType': 'vmx-10',
          },
          Item: items,
          'vmw:Config': { '@_ovf:required': 'false', '@_vmw:key': 'firmware', '@_vmw:value': spec.firmware ?? 'bios' },
        },
      },
    },
  };
  const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, indentBy: '  ', suppressEmptyNode: true });
  return builder.build(envelope) as string;
}

/** A VirtualHardwareSection Item; the rasd children in the schema's (alphabetical) order. */
function item(instance: number, type: number, name: string, fields: Record<string, string | number>): Record<string, string | number> {
  const all: Record<string, string | number> = {
    ...fields,
    'rasd:ElementName': name,
    'rasd:InstanceID': instance,
    'rasd:ResourceType': type,
  };
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)));
}
