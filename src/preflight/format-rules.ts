/**
 * Rules on the container and each disk's format, subformat and size: what VM Import accepts as a file.
 * Sources: VM Import/Export User Guide, "Requirements" (image formats) and "Limitations" (sizes, volumes).
 */
import type { DiskReport, OvaDiskReport } from '../inspect.js';
import type { Rule, RuleHit, Subject } from './types.js';

const TiB = 2 ** 40;
const GUIDE = 'VM Import/Export User Guide';
const STREAM_FIX = (name: string) =>
  `convert it: diskport convert ${name} out.vmdk (streamOptimized; or --to vhd / raw)`;

/** The disks of the subject with the name to show for each (the OVA entry, or the file). */
export function namedDisks(subject: Subject): { disk: DiskReport; name: string }[] {
  return subject.disks.map((disk) => ({ disk, name: subject.ova === null ? subject.file : (disk as OvaDiskReport).href }));
}

function perDisk(subject: Subject, test: (disk: DiskReport, name: string) => Omit<RuleHit, 'disk'> | undefined): RuleHit[] {
  return namedDisks(subject).flatMap(({ disk, name }) => {
    const hit = test(disk, name);
    return hit === undefined ? [] : [{ ...hit, disk: name }];
  });
}

export const formatRules: Rule[] = [
  {
    code: 'FORMAT_UNSUPPORTED',
    severity: 'error',
    requirement: `${GUIDE}, Requirements: VM Import reads OVA, VMDK, VHD, VHDX and RAW only`,
    test: (subject) => perDisk(subject, (disk, name) => disk.format !== 'qcow2' ? undefined : {
      message: `${name} is a qcow2 image (${disk.subformat}), which VM Import does not read`,
      fix: STREAM_FIX(name),
    }),
  },
  {
    code: 'VMDK_DESCRIPTOR_ONLY',
    severity: 'error',
    requirement: `${GUIDE}, Requirements: one stream-optimized VMDK file per disk`,
    test: (subject) => perDisk(subject, (disk, name) => disk.format !== 'vmdk' || disk.details.descriptor !== 'file' ? undefined : {
      message: `${name} is a text descriptor (${disk.subformat}) whose data lives in separate extent files; VM Import takes one file per disk`,
      fix: STREAM_FIX(name),
    }),
  },
  {
    code: 'VMDK_NOT_STREAM_OPTIMIZED',
    severity: 'error',
    requirement: `${GUIDE}, Requirements: only stream-optimized ESX VMDKs; troubleshooting "File uses unsupported compression algorithm 0"`,
    test: (subject) => perDisk(subject, (disk, name) => {
      if (disk.format !== 'vmdk' || disk.subformat === 'streamOptimized' || disk.details.descriptor === 'file') return undefined;
      return {
        message: `${name} is a ${disk.subformat ?? 'sparse'} VMDK${disk.details.compressed ? '' : ' with uncompressed grains'}; VM Import accepts only streamOptimized VMDKs`,
        fix: STREAM_FIX(name),
      };
    }),
  },
  {
    code: 'VHD_FOOTER_MISMATCH',
    severity: 'error',
    requirement: `${GUIDE}, Troubleshooting: "ClientError: Footers not identical"`,
    test: (subject) => perDisk(subject, (disk, name) => {
      const problem = disk.format === 'vhd' ? disk.details.footerMismatch ?? disk.details.headCopy ?? disk.details.tailFooter : undefined;
      return problem === undefined ? undefined : {
        message: `${name}: the VHD's footer copies disagree (${String(problem)})`,
        fix: `rewrite the VHD so both copies match: qemu-img convert -O vpc -o subformat=dynamic,force_size=on ${name} fixed.vhd`,
      };
    }),
  },
  {
    code: 'IMAGE_TOO_LARGE',
    severity: 'error',
    requirement: `${GUIDE}, Limitations: disk images must be smaller than 16 TiB`,
    test: (subject) => perDisk(subject, (disk, name) => disk.virtualSize < 16 * TiB ? undefined : {
      message: `${name} is ${(disk.virtualSize / TiB).toFixed(2)} TiB; VM Import takes disks under 16 TiB`,
      fix: 'shrink the file systems and the disk below 16 TiB, or move data to a separate volume imported on its own',
    }),
  },
  {
    code: 'IMAGE_NEEDS_MANIFEST',
    severity: 'warning',
    requirement: `${GUIDE}, Limitations: images larger than 8 TiB need a manifest file`,
    test: (subject) => perDisk(subject, (disk, name) => disk.virtualSize <= 8 * TiB || disk.virtualSize >= 16 * TiB ? undefined : {
      message: `${name} is ${(disk.virtualSize / TiB).toFixed(2)} TiB; VM Import needs an import manifest for disks over 8 TiB`,
      fix: 'import it with a manifest (see "Importing large disks" in the VM Import guide), or shrink it to 8 TiB or less',
    }),
  },
  {
    code: 'TOO_MANY_VOLUMES',
    severity: 'error',
    requirement: `${GUIDE}, Limitations: an import fails with more than 21 volumes attached`,
    test: (subject) => subject.disks.length <= 21 ? [] : [{
      message: `${subject.file} holds ${subject.disks.length} disks; VM Import takes at most 21`,
      fix: 'import the boot disk and up to 20 others with ImportImage, and the rest with ImportSnapshot',
    }],
  },
  {
    code: 'FORMAT_EXTENSION_MISMATCH',
    severity: 'warning',
    requirement: 'ImageDiskContainer.Format names the file type; VM Import reads the file as that format',
    test: (subject) => {
      const claimed = formatOfExtension(subject.file);
      const actual = subject.ova === null ? subject.disks[0]?.format : 'ova';
      if (claimed === undefined || actual === undefined || claimed === actual) return [];
      return [{
        message: `${subject.file} is named like a ${claimed} file but holds a ${actual} image`,
        fix: `rename it to match its content (the import request diskport builds uses Format ${actual.toUpperCase()})`,
      }];
    },
  },
];

const EXTENSIONS: Record<string, string> = { vmdk: 'vmdk', vhd: 'vhd', vhdx: 'vhdx', ova: 'ova', raw: 'raw', qcow2: 'qcow2' };

function formatOfExtension(file: string): string | undefined {
  const match = /\.([a-z0-9]+)$/i.exec(file);
  return match === null ? undefined : EXTENSIONS[match[1]!.toLowerCase()];
}
