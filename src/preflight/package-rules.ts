/**
 * Rules on the OVA package itself: its OVF against its disks, its manifest, its layout. Sources: DMTF DSP0243
 * (OVF packaging: descriptor first, manifest digests) and the VM Import guide (an OVA is one import).
 */
import type { OvaDiskReport, OvaReport } from '../inspect.js';
import type { Rule, RuleHit, Subject } from './types.js';

const OVF_SPEC = 'DMTF DSP0243 (OVF)';

function onOva(subject: Subject, test: (ova: OvaReport) => RuleHit[]): RuleHit[] {
  return subject.ova === null ? [] : test(subject.ova);
}

function onOvaDisks(subject: Subject, test: (disk: OvaDiskReport) => Omit<RuleHit, 'disk'> | undefined): RuleHit[] {
  return onOva(subject, (ova) => ova.disks.flatMap((disk) => {
    const hit = test(disk);
    return hit === undefined ? [] : [{ ...hit, disk: disk.href }];
  }));
}

/** What a disk's ovf:format URI announces, in diskport's format/subformat terms. */
function announced(uri: string): { format: string; subformat?: string } | undefined {
  if (/vmdk\.html#streamOptimized$/i.test(uri)) return { format: 'vmdk', subformat: 'streamOptimized' };
  if (/vmdk\.html#sparse$/i.test(uri)) return { format: 'vmdk', subformat: 'monolithicSparse' };
  if (/vmdk/i.test(uri)) return { format: 'vmdk' };
  if (/bb676673|\bvhd\b/i.test(uri)) return { format: 'vhd' };
  if (/qcow/i.test(uri)) return { format: 'qcow2' };
  return undefined;
}

export const packageRules: Rule[] = [
  {
    code: 'OVA_NO_DISKS',
    severity: 'error',
    requirement: `${OVF_SPEC}: DiskSection; VM Import imports the OVA's disks`,
    test: (subject) => onOva(subject, (ova) => ova.disks.length > 0 ? [] : [{
      message: `${subject.file}: the OVF (${ova.ovfName}) references no disk file`,
      fix: 'export the VM again with its disks included in the OVA',
    }]),
  },
  {
    code: 'OVA_MANIFEST_MISMATCH',
    severity: 'error',
    requirement: `${OVF_SPEC} 5.1: the manifest holds the digest of every file in the package`,
    test: (subject) => onOva(subject, (ova) => {
      const verification = ova.verification;
      if (verification === undefined) return [];
      const wrong = verification.mismatches.map((m) => ({
        disk: m.name,
        message: `${m.name}: its ${m.algorithm} is ${m.actual}, the manifest says ${m.expected}: the file changed or was damaged in transit`,
        fix: 'copy or download the OVA again; if you edited a file on purpose, regenerate the manifest',
      }));
      const missing = verification.missing.map((name) => ({
        disk: name,
        message: `the manifest lists ${name}, which the OVA does not hold`,
        fix: 'export the OVA again, or regenerate the manifest from the files it holds',
      }));
      return [...wrong, ...missing];
    }),
  },
  {
    code: 'OVA_MANIFEST_INCOMPLETE',
    severity: 'warning',
    requirement: `${OVF_SPEC} 5.1: the manifest covers every file of the package`,
    test: (subject) => onOva(subject, (ova) => ova.manifest === null || (ova.verification?.unlisted ?? []).length === 0 ? [] : [{
      message: `the manifest does not cover ${ova.verification!.unlisted.join(', ')}`,
      fix: 'regenerate the manifest over every file of the package',
    }]),
  },
  {
    code: 'OVA_MANIFEST_NOT_VERIFIED',
    severity: 'info',
    requirement: `${OVF_SPEC} 5.1: manifest digests`,
    test: (subject) => onOva(subject, (ova) => ova.manifest === null || ova.verification !== undefined ? [] : [{
      message: `the OVA has a manifest (${ova.manifest.name}, ${ova.manifest.algorithms.join('/')}) that was not checked`,
      fix: 'run with --verify to hash every file against it',
    }]),
  },
  {
    code: 'OVF_CAPACITY_MISMATCH',
    severity: 'warning',
    requirement: `${OVF_SPEC} DiskSection: ovf:capacity is the disk's virtual size`,
    test: (subject) => onOvaDisks(subject, (disk) => disk.ovfCapacity === null || disk.ovfCapacity === disk.virtualSize ? undefined : {
      message: `${disk.href}: the OVF declares ${disk.ovfCapacity} bytes, the disk is ${disk.virtualSize} bytes`,
      fix: 'export the OVA again so the OVF matches its disks (tools disagree on which one to trust)',
    }),
  },
  {
    code: 'OVF_FILE_SIZE_MISMATCH',
    severity: 'warning',
    requirement: `${OVF_SPEC} References: ovf:size is the file's size in the package`,
    test: (subject) => onOvaDisks(subject, (disk) => disk.ovfFileSize === null || disk.ovfFileSize === disk.entrySize ? undefined : {
      message: `${disk.href}: the OVF says ${disk.ovfFileSize} bytes, the OVA holds ${disk.entrySize}`,
      fix: 'export the OVA again; a size that disagrees usually means a damaged or edited package',
    }),
  },
  {
    code: 'OVF_FORMAT_MISMATCH',
    severity: 'warning',
    requirement: `${OVF_SPEC} DiskSection: ovf:format names the disk's format`,
    test: (subject) => onOvaDisks(subject, (disk) => {
      const claim = disk.ovfFormat === null ? undefined : announced(disk.ovfFormat);
      if (claim === undefined) return undefined;
      const agrees = claim.format === disk.format && (claim.subformat === undefined || claim.subformat === disk.subformat);
      return agrees ? undefined : {
        message: `${disk.href}: the OVF announces ${claim.subformat ?? claim.format} (${disk.ovfFormat}) but the file is ${disk.format}${disk.subformat ? ` ${disk.subformat}` : ''}`,
        fix: 'export the OVA again, or fix the Disk ovf:format in the OVF (and the manifest)',
      };
    }),
  },
  {
    code: 'OVA_COMPRESSED_DISK',
    severity: 'warning',
    requirement: 'VM Import/Export User Guide: no statement that gzip-compressed OVF files are accepted',
    test: (subject) => onOvaDisks(subject, (disk) => disk.compression === null ? undefined : {
      message: `${disk.href} is stored ${disk.compression}-compressed in the OVA; VM Import does not document support for that`,
      fix: 'export the OVA without file compression (ovftool: drop --compress)',
    }),
  },
  {
    code: 'OVA_OVF_NOT_FIRST',
    severity: 'info',
    requirement: `${OVF_SPEC} 5.3: the OVF descriptor is the first file of an OVA`,
    test: (subject) => onOva(subject, (ova) => ova.entries[0]?.name === ova.ovfName ? [] : [{
      message: `the OVF descriptor ${ova.ovfName} is not the OVA's first file (${ova.entries[0]?.name ?? 'none'} is)`,
      fix: 'tools that stream OVAs (ovftool, vSphere) need it first: re-pack with tar cf out.ova vm.ovf vm.mf disks…',
    }]),
  },
  {
    code: 'OVA_CERTIFICATE_NOT_CHECKED',
    severity: 'info',
    requirement: `${OVF_SPEC} 5.2: the certificate signs the manifest`,
    test: (subject) => onOva(subject, (ova) => ova.certificate === null ? [] : [{
      message: `the OVA is signed (${ova.certificate}); diskport does not check signatures`,
      fix: 'check it with ovftool or openssl if the signer matters to you',
    }]),
  },
];
