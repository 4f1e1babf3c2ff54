/**
 * Some images cannot even be opened because of what they are, not because they are damaged: a differencing
 * disk, an encrypted or backed qcow2. VM Import rejects those too, so check reports them as rule findings (exit 1,
 * "fix the image") rather than as unreadable input (exit 2, "fix the file").
 */
import type { DiskError, ErrorCode } from '../errors.js';
import type { Finding } from './types.js';

const GUIDE = 'VM Import/Export User Guide';

interface Refusal {
  code: string;
  /** The reader's error this refusal stands for, and (optionally) which format raised it. */
  error: ErrorCode;
  format?: string;
  requirement: string;
  message: (error: DiskError) => string;
  fix: string;
}

const REFUSALS: Refusal[] = [
  {
    code: 'VHD_DIFFERENCING',
    error: 'PARENT_REQUIRED',
    format: 'vhd',
    requirement: `${GUIDE}, Requirements: fixed and dynamic VHDs only; Troubleshooting "Footers not identical"`,
    message: (error) => `a differencing VHD (a child of another disk): ${error.message}`,
    fix: 'merge it into its parent first: qemu-img convert -O vpc -o subformat=dynamic child.vhd merged.vhd (with the parent beside it)',
  },
  {
    code: 'VHDX_DIFFERENCING',
    error: 'PARENT_REQUIRED',
    format: 'vhdx',
    requirement: `${GUIDE}, Requirements: fixed and dynamic VHDX only`,
    message: (error) => `a differencing VHDX (HasParent): ${error.message}`,
    fix: 'merge it into its parent first (Hyper-V: Edit Disk > Merge, or Merge-VHD)',
  },
  {
    code: 'VMDK_SNAPSHOT_CHILD',
    error: 'PARENT_REQUIRED',
    format: 'vmdk',
    requirement: `${GUIDE}, Requirements: one stream-optimized VMDK per disk (no delta disks)`,
    message: (error) => `a VMDK snapshot delta: ${error.message}`,
    fix: 'consolidate the snapshots, then export the VM again as OVF/OVA',
  },
  ...(['QCOW2_ENCRYPTED', 'QCOW2_BACKING_FILE', 'QCOW2_EXTERNAL_DATA_FILE'] as const).map((error) => ({
    code: 'FORMAT_UNSUPPORTED',
    error,
    requirement: `${GUIDE}, Requirements: VM Import reads OVA, VMDK, VHD, VHDX and RAW only`,
    message: (e: DiskError) => `a qcow2 image, which VM Import does not read (and this one is not self-contained: ${e.message})`,
    fix: 'convert it with its backing chain / key: qemu-img convert -O vmdk -o subformat=streamOptimized in.qcow2 out.vmdk',
  })),
];

/** The rule finding an open error stands for, or undefined when the error means the input is unreadable. */
export function refusalFinding(error: DiskError): Finding | undefined {
  const refusal = REFUSALS.find((r) => r.error === error.code && (r.format === undefined || r.format === error.format));
  if (refusal === undefined) return undefined;
  // A disk inside an OVA is named `vm.ova:disk1.vmdk`; findings name OVA disks by their entry, as the rules do.
  const disk = error.file === undefined ? undefined : error.file.replace(/^.*\.ova:/i, '');
  return {
    code: refusal.code,
    severity: 'error',
    message: `${disk ?? 'the image'} is ${refusal.message(error)}`,
    fix: refusal.fix,
    requirement: refusal.requirement,
    ...(disk === undefined ? {} : { disk }),
  };
}

/** Every code a refusal can report (for the README and tests). */
export const REFUSAL_CODES = [...new Set(REFUSALS.map((r) => r.code))];
