/**
 * Rules on how the boot disk boots and what it holds: partition table, boot mode against the firmware and the
 * request, the ESP's fallback loader, architecture, file systems, encryption. Sources: VM Import/Export User
 * Guide ("Requirements", "Limitations", "Troubleshooting"), EC2 API ImportImage (BootMode), EBS volume constraints.
 */
import type { DiskReport, InspectedPartition } from '../inspect.js';
import { isEspType } from '../partitions/index.js';
import { namedDisks } from './format-rules.js';
import { architectureOf, platformOf, requestedBootMode } from './guest.js';
import type { Rule, RuleHit, Subject } from './types.js';

const GUIDE = 'VM Import/Export User Guide';
const MBR_LIMIT = 2 ** 32 * 512;
const ROOT_FILESYSTEMS = new Set(['ntfs', 'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'jfs', 'lvm2']);
const ENCRYPTED = new Set(['crypto_LUKS', 'BitLocker']);
const DYNAMIC_DISK_TYPES = new Set(['0x42', '5808C8AA-7E8F-42E0-85D2-E1E90434CFB3', 'AF9B60A0-1431-4F62-BC68-3311714A69AD']);

/**
 * The first disk boots (unless the subject is a VM's further data disk); a pipe's partitions are not read (null),
 * so partition rules stay silent for it.
 */
function bootDisk(subject: Subject): { disk: DiskReport; name: string } | undefined {
  if (subject.role === 'data') return undefined;
  const first = namedDisks(subject)[0];
  return first === undefined || first.disk.partitions === null ? undefined : first;
}

function onBootDisk(subject: Subject, test: (disk: DiskReport, name: string) => Omit<RuleHit, 'disk'> | undefined): RuleHit[] {
  const boot = bootDisk(subject);
  const hit = boot === undefined ? undefined : test(boot.disk, boot.name);
  return hit === undefined ? [] : [{ ...hit, disk: boot!.name }];
}

function espLoaders(disk: DiskReport) {
  const esps = (disk.partitions ?? []).filter((partition) => partition.esp !== undefined);
  return { esps, loaders: esps.flatMap((partition) => partition.esp!.loaders) };
}

/** sdX, hdX, vdX, xvdX (and their partitions): names a different controller renumbers. */
const DEVICE_NAME = /^\/dev\/(?:[shv]d|xvd)[a-z]+\d*$/;
const NETWORK_FS = new Set(['cifs', 'smbfs', 'smb3', 'vboxsf', 'fuse.sshfs', 'sshfs', 'nfs', 'nfs4']);

/** The boot disk's (first) Linux root file system, when one was read. */
function onLinuxRoot(subject: Subject, test: (root: InspectedPartition, name: string) => Omit<RuleHit, 'disk'> | undefined): RuleHit[] {
  return onBootDisk(subject, (disk, name) => {
    const root = (disk.partitions ?? []).find((p) => p.linux !== undefined);
    return root === undefined ? undefined : test(root, name);
  });
}

export const bootRules: Rule[] = [
  {
    code: 'PT_NONE',
    severity: 'error',
    requirement: `${GUIDE}, Troubleshooting: "No valid partition" / "No bootable partition found"`,
    test: (subject) => onBootDisk(subject, (disk, name) => disk.partitionTable !== null ? undefined : {
      message: disk.filesystems?.length
        ? `${name} has no partition table: a ${disk.filesystems.join('/')} file system fills the whole disk`
        : `${name} has no partition table (no MBR signature, no GPT header)`,
      fix: 'import the disk the VM boots from, with its MBR or GPT (not a partition or file-system image)',
    }),
  },
  {
    code: 'BOOT_NO_BOOTABLE_PARTITION',
    severity: 'error',
    requirement: `${GUIDE}, Troubleshooting: "Client.Unsupported: No bootable partition found"`,
    test: (subject) => onBootDisk(subject, (disk, name) => disk.partitionTable === null || disk.bootMode !== null ? undefined : {
      message: `${name}: the ${disk.partitionTable.toUpperCase()} has nothing a firmware boots (no active partition with boot code, no EFI System Partition)`,
      fix: 'mark the boot partition active (MBR) or add an EFI System Partition with a loader (GPT); or put the boot disk first',
    }),
  },
  {
    code: 'MBR_OVER_2TIB',
    severity: 'error',
    requirement: 'EBS volume constraints: an MBR addresses 2^32 sectors, 2 TiB',
    test: (subject) => namedDisks(subject).flatMap(({ disk, name }) => {
      const past = (disk.partitions ?? []).filter((p) => disk.partitionTable === 'mbr' && p.start + p.size > MBR_LIMIT);
      return past.length === 0 ? [] : [{
        disk: name,
        message: `${name}: MBR partition ${past.map((p) => p.index).join(', ')} reaches past 2 TiB, which an MBR cannot address`,
        fix: 'convert the disk to GPT (gdisk) and boot it with UEFI, or shrink the partition below 2 TiB',
      }];
    }),
  },
  {
    code: 'MBR_DISK_OVER_2TIB',
    severity: 'warning',
    requirement: 'EBS volume constraints: MBR volumes are usable up to 2 TiB',
    test: (subject) => namedDisks(subject).flatMap(({ disk, name }) =>
      disk.partitionTable !== 'mbr' || disk.virtualSize <= MBR_LIMIT ? [] : [{
        disk: name,
        message: `${name} is an MBR disk of ${(disk.virtualSize / 2 ** 40).toFixed(2)} TiB; space past 2 TiB cannot be partitioned`,
        fix: 'use GPT for disks over 2 TiB, or shrink the disk to 2 TiB',
      }]),
  },
  {
    code: 'BOOTMODE_UEFI_PREFERRED',
    severity: 'error',
    requirement: 'EC2 API ImportImage: BootMode uefi-preferred is not supported for image imports',
    test: (subject) => subject.intent.bootMode !== 'uefi-preferred' ? [] : [{
      message: 'the request asks for BootMode uefi-preferred, which ImportImage rejects',
      fix: 'ask for uefi or legacy-bios (diskport picks one from the disk when you leave it out)',
    }],
  },
  {
    code: 'UEFI_BOOTMODE_MISMATCH',
    severity: 'error',
    requirement: `${GUIDE}, Requirements: boot modes; the AMI boots only the way the disk can`,
    test: (subject) => onBootDisk(subject, (disk, name) => {
      const wanted = subject.intent.bootMode ?? subject.guest.firmware;
      const by = subject.intent.bootMode === undefined ? `the OVF's firmware (${wanted})` : `the requested BootMode ${wanted}`;
      const wantsUefi = wanted === 'uefi' || wanted === 'efi';
      const wantsBios = wanted === 'legacy-bios' || wanted === 'bios';
      if ((wantsUefi && disk.bootMode === 'legacy-bios') || (wantsBios && disk.bootMode === 'uefi')) {
        return {
          message: `${name} boots only ${disk.bootMode === 'uefi' ? 'with UEFI' : 'with a legacy BIOS'}, but ${by} says otherwise`,
          fix: `import with BootMode ${disk.bootMode} (diskport's request does), or fix the VM's firmware setting`,
        };
      }
      return undefined;
    }),
  },
  {
    code: 'UEFI_LINUX_NO_FALLBACK',
    severity: 'error',
    requirement: `${GUIDE}, Limitations: Linux UEFI imports need the fallback loader \\EFI\\BOOT\\BOOTX64.EFI on the ESP`,
    test: (subject) => onBootDisk(subject, (disk, name) => {
      if (requestedBootMode(subject) !== 'uefi' || platformOf(subject) === 'Windows') return undefined;
      const { esps, loaders } = espLoaders(disk);
      if (esps.length === 0 || loaders.some((l) => l.architecture === 'x86_64' || l.architecture === 'arm64')) return undefined;
      const vendors = [...new Set(esps.flatMap((p) => p.esp!.vendors))];
      return {
        message: `${name}: the EFI System Partition has no \\EFI\\BOOT\\BOOTX64.EFI${vendors.length ? ` (it has \\EFI\\${vendors.join(', \\EFI\\')})` : ''}`,
        fix: 'in the guest, copy the distribution\'s shim or grub to \\EFI\\BOOT\\BOOTX64.EFI (e.g. grub-install --removable, or cp shimx64.efi)',
      };
    }),
  },
  {
    code: 'UEFI_ESP_UNREADABLE',
    severity: 'warning',
    requirement: `${GUIDE}, Limitations: Linux UEFI imports need the fallback loader on the ESP`,
    test: (subject) => onBootDisk(subject, (disk, name) => {
      if (requestedBootMode(subject) !== 'uefi') return undefined;
      const espParts = (disk.partitions ?? []).filter((p) => isEspType(p.type));
      if (espParts.length === 0 || espParts.some((p) => p.esp !== undefined)) return undefined;
      return {
        message: `${name}: the EFI System Partition holds no FAT file system diskport can read, so its loaders were not checked`,
        fix: 'check that the ESP is FAT-formatted and holds \\EFI\\BOOT\\BOOTX64.EFI',
      };
    }),
  },
  {
    code: 'BOOT_BOTH_MODES',
    severity: 'info',
    requirement: `${GUIDE}, Requirements: boot modes (VM Import picks legacy BIOS for disks that boot both ways)`,
    test: (subject) => onBootDisk(subject, (disk, name) => disk.bootMode !== 'uefi-preferred' || requestedBootMode(subject) !== undefined ? undefined : {
      message: `${name} boots both ways (BIOS boot partition and EFI System Partition); the request leaves BootMode to VM Import`,
      fix: 'pass --boot-mode uefi or legacy-bios to choose (Windows 11 needs uefi)',
    }),
  },
  {
    code: 'ARCH_ARM64',
    severity: 'error',
    requirement: `${GUIDE}, Requirements: VMs using the ARM64 architecture are not supported`,
    test: (subject) => architectureOf(subject) !== 'arm64' ? [] : [{
      message: `the guest is ARM64 (${subject.guest.evidence.join('; ') || 'as requested'}); VM Import takes x86 guests only`,
      fix: 'import an x86_64 build of the VM, or build the AMI natively on Graviton',
    }],
  },
  {
    code: 'LINUX_32BIT',
    severity: 'error',
    requirement: `${GUIDE}, Requirements: Linux guests must be 64-bit`,
    test: (subject) => platformOf(subject) !== 'Linux' || architectureOf(subject) !== 'i386' ? [] : [{
      message: `the guest is 32-bit Linux (${subject.guest.evidence.join('; ')}); VM Import takes 64-bit Linux only`,
      fix: 'import a 64-bit (x86_64) build of the distribution',
    }],
  },
  {
    code: 'GUEST_ENCRYPTED_VOLUME',
    severity: 'error',
    requirement: `${GUIDE}, Limitations: VMs with encrypted volumes are not supported`,
    test: (subject) => namedDisks(subject).flatMap(({ disk, name }) => {
      const locked = (disk.partitions ?? []).filter((p) => p.filesystem !== null && ENCRYPTED.has(p.filesystem.type));
      return locked.length === 0 ? [] : [{
        disk: name,
        message: `${name}: partition ${locked.map((p) => `${p.index} (${p.filesystem!.type})`).join(', ')} is encrypted`,
        fix: 'decrypt the volumes in the guest before export (BitLocker: manage-bde -off; LUKS: re-create unencrypted)',
      }];
    }),
  },
  {
    code: 'FS_UNSUPPORTED',
    severity: 'error',
    requirement: `${GUIDE}, Requirements: NTFS (Windows) or ext2/3/4, XFS, Btrfs, JFS (Linux) volumes`,
    test: (subject) => onBootDisk(subject, (disk, name) => {
      const found = disk.filesystems ?? [];
      if (found.some((type) => ROOT_FILESYSTEMS.has(type))) return undefined;
      if (disk.partitionTable === null && found.length === 0) return undefined; // PT_NONE says it
      return {
        message: `${name} holds no file system VM Import can boot from (found: ${found.length ? found.join(', ') : 'none recognised'})`,
        fix: 'the root file system must be NTFS (Windows) or ext2/3/4, XFS, Btrfs or JFS (Linux), on this disk',
      };
    }),
  },
  {
    code: 'LINUX_MULTIPLE_ROOTS',
    severity: 'error',
    requirement: `${GUIDE}, Troubleshooting: "Unsupported configuration - Multiple directories found"`,
    test: (subject) => onBootDisk(subject, (disk, name) => {
      const roots = (disk.partitions ?? []).filter((p) => p.linux !== undefined);
      return roots.length < 2 ? undefined : {
        message: `${name} holds ${roots.length} Linux root file systems (partitions ${roots.map((p) => `${p.index}: ${p.linux!.prettyName ?? p.linux!.id ?? '/etc'}`).join(', ')})`,
        fix: 'VM Import needs exactly one /etc: remove the other installation (dual boot is not supported)',
      };
    }),
  },
  {
    code: 'DUAL_BOOT',
    severity: 'error',
    requirement: `${GUIDE}, Limitations: dual-boot configurations are not supported`,
    test: (subject) => onBootDisk(subject, (disk, name) => {
      const partitions = disk.partitions ?? [];
      const linux = partitions.find((p) => p.linux !== undefined);
      const windows = partitions.find((p) => p.windows?.windowsFolder && p.windows.system32);
      return linux === undefined || windows === undefined ? undefined : {
        message: `${name} holds both Linux (partition ${linux.index}) and Windows (\\Windows\\System32 on partition ${windows.index})`,
        fix: 'import one operating system per image: remove the other installation (or its partition) before export',
      };
    }),
  },
  {
    code: 'KERNEL_UNDETECTABLE',
    severity: 'warning',
    requirement: `${GUIDE}, Troubleshooting: "Unable to determine kernel version"`,
    test: (subject) => onBootDisk(subject, (disk, name) => {
      const partitions = disk.partitions ?? [];
      const root = partitions.find((p) => p.linux !== undefined);
      if (root === undefined || root.linux!.kernels.length > 0 || partitions.some((p) => p.bootKernels !== undefined)) return undefined;
      return {
        message: `${name}: the Linux root (partition ${root.index}) has no kernel in /boot or /lib/modules, and no /boot partition holds one`,
        fix: 'install the distribution\'s kernel package in the guest before export (a kernel on LVM or another disk is not seen)',
      };
    }),
  },
  {
    code: 'LINUX_FSTAB_UNREADABLE',
    severity: 'warning',
    requirement: `${GUIDE}, Troubleshooting: "Invalid configuration - Could not read fstab"`,
    test: (subject) => onLinuxRoot(subject, (root, name) => root.linux!.fstab !== null ? undefined : {
      message: `${name}: the Linux root (partition ${root.index}) has no readable /etc/fstab`,
      fix: 'VM Import reads /etc/fstab to find the volumes: add one listing the root and other mounts',
    }),
  },
  {
    code: 'LINUX_FSTAB_DEVICE_NAMES',
    severity: 'warning',
    requirement: `${GUIDE}, "Programmatic modifications": fstab entries by device name are rewritten or get nofail`,
    test: (subject) => onLinuxRoot(subject, (root, name) => {
      const byName = (root.linux!.fstab ?? []).filter((entry) => DEVICE_NAME.test(entry.spec));
      return byName.length === 0 ? undefined : {
        message: `${name}: /etc/fstab mounts ${byName.map((e) => `${e.spec} on ${e.mountPoint}`).join(', ')} by device name, which changes on EC2 (NVMe: /dev/nvme0n1…)`,
        fix: 'mount by UUID= or LABEL= (blkid shows them) before export',
      };
    }),
  },
  {
    code: 'LINUX_FSTAB_NETWORK_FS',
    severity: 'info',
    requirement: `${GUIDE}, "Programmatic modifications": cifs, smbfs, vboxsf and sshfs entries are disabled`,
    test: (subject) => onLinuxRoot(subject, (root, name) => {
      const network = (root.linux!.fstab ?? []).filter((entry) => NETWORK_FS.has(entry.type));
      return network.length === 0 ? undefined : {
        message: `${name}: /etc/fstab mounts ${network.map((e) => `${e.mountPoint} (${e.type})`).join(', ')}, which VM Import disables`,
        fix: 'mount them again after the import, from where the instance can reach them',
      };
    }),
  },
  {
    code: 'WIN_DYNAMIC_DISK',
    severity: 'warning',
    requirement: `${GUIDE}, Limitations: Windows dynamic disks cannot be converted from GPT to MBR`,
    test: (subject) => namedDisks(subject).flatMap(({ disk, name }) =>
      !(disk.partitions ?? []).some((p) => DYNAMIC_DISK_TYPES.has(p.type)) ? [] : [{
        disk: name,
        message: `${name} is a Windows dynamic disk (LDM partitions)`,
        fix: 'convert it to a basic disk in Windows Disk Management before export, and boot it with UEFI if it is GPT',
      }]),
  },
  {
    code: 'WIN11_NOT_UEFI',
    severity: 'warning',
    requirement: `${GUIDE}, Requirements: Windows 11 needs UEFI`,
    test: (subject) => !/windows ?11/i.test(`${subject.ova?.ovf.osType ?? ''} ${subject.ova?.ovf.osDescription ?? ''}`) ||
      requestedBootMode(subject) === 'uefi' ? [] : [{
        message: 'the OVF names Windows 11, which boots only with UEFI, but the import would not ask for uefi',
        fix: 'import with --boot-mode uefi (the disk needs an EFI System Partition)',
      }],
  },
  {
    code: 'PARTITIONS_NOT_READ',
    severity: 'warning',
    requirement: 'diskport: partition tables need random access to the disk',
    test: (subject) => namedDisks(subject).slice(0, 1).flatMap(({ disk, name }) => disk.partitions !== null ? [] : [{
      disk: name,
      message: `${name} was read front to back (a pipe, or a compressed OVA entry) and its partition table lies outside the parts kept (a long EBR chain, say), so its partition table, boot mode and file systems were not checked`,
      fix: 'run diskport check on an uncompressed file for the full set of checks',
    }]),
  },
  {
    code: 'PARTITION_TABLE_DAMAGED',
    severity: 'warning',
    requirement: 'UEFI Specification 5.3: GPT primary and backup headers; MBR records',
    test: (subject) => namedDisks(subject).flatMap(({ disk, name }) =>
      disk.partitionProblems.filter((p) => p.code !== 'NOT_BOOTABLE').map((problem) => ({
        disk: name,
        message: `${name}: ${problem.message} (${problem.code})`,
        fix: 'repair the partition table in the guest (gdisk: verify and write; or sgdisk -e for a moved backup header)',
      }))),
  },
];
