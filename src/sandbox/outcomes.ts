/**
 * How a failed sandbox import ends: the `ClientError: …` StatusMessage VM Import gives for what diskport's
 * preflight found, and the stage of the task at which it gives it. One row per preflight error code (a rule
 * finding, or the DiskError of an image the readers refuse), plus the sandbox's own checks (the object could not
 * be read, the Format named in the request is not the file's).
 *
 * `source` says where the wording comes from: `documented` (AWS's VM Import troubleshooting page), `reported`
 * (a real task's StatusMessage quoted in a public issue; see ../shared/reference/vmimport-rules.md §5), or
 * `inferred` (no published message: worded in the service's style, naming the cause).
 */

/** The StatusMessage (while `active`) at which the failure shows: disk checks early, guest checks later. */
export type FailureStage = 'validating' | 'converting' | 'updating' | 'booting';

export interface FailureContext {
  /** The container's Format (upper case), as requested or detected. */
  format: string;
  /** S3's answer when the object could not be read (`404 Not Found`). */
  reason?: string;
}

export interface Outcome {
  stage: FailureStage;
  message: (context: FailureContext) => string;
  source: 'documented' | 'reported' | 'inferred';
}

const fixed = (text: string) => () => text;
const unsupportedFormat = ({ format }: FailureContext) => `ClientError: Disk validation failed [Unsupported ${format} format]`;

export const OUTCOMES: Record<string, Outcome> = {
  // The file itself (preflight format and package rules, reader refusals).
  FORMAT_UNSUPPORTED: { stage: 'validating', message: unsupportedFormat, source: 'reported' },
  FORMAT_MISMATCH: { stage: 'validating', message: unsupportedFormat, source: 'reported' },
  UNREADABLE: { stage: 'validating', message: unsupportedFormat, source: 'reported' },
  VMDK_NOT_STREAM_OPTIMIZED: { stage: 'validating', message: fixed('ClientError: File uses unsupported compression algorithm 0'), source: 'documented' },
  VMDK_DESCRIPTOR_ONLY: { stage: 'validating', message: fixed('ClientError: Disk validation failed [Unsupported VMDK File Format]'), source: 'inferred' },
  VMDK_SNAPSHOT_CHILD: { stage: 'validating', message: fixed('ClientError: Disk validation failed [Unsupported VMDK File Format]'), source: 'inferred' },
  VHD_DIFFERENCING: { stage: 'validating', message: fixed('ClientError: Footers not identical'), source: 'documented' },
  VHD_FOOTER_MISMATCH: { stage: 'validating', message: fixed('ClientError: Footers not identical'), source: 'documented' },
  VHDX_DIFFERENCING: { stage: 'validating', message: fixed('ClientError: Disk validation failed [Unsupported VHDX File Format]'), source: 'inferred' },
  CORRUPT_DATA: { stage: 'validating', message: fixed('ClientError: Uncompressed data has invalid length'), source: 'documented' },
  IMAGE_TOO_LARGE: { stage: 'validating', message: fixed('ClientError: Disk validation failed [Disk image is larger than 16 TiB]'), source: 'inferred' },
  TOO_MANY_VOLUMES: { stage: 'validating', message: fixed('ClientError: Unsupported configuration - more than 21 volumes'), source: 'inferred' },
  OVA_NO_DISKS: { stage: 'validating', message: fixed('ClientError: Disk validation failed [Unsupported OVA format]'), source: 'reported' },
  OVA_MANIFEST_MISMATCH: { stage: 'validating', message: fixed('ClientError: Disk validation failed [Unsupported OVA format]'), source: 'reported' },
  S3_ACCESS: {
    stage: 'validating',
    message: ({ reason }) => `ClientError: Disk validation failed [We do not have access to the given resource. Reason ${reason ?? '403 Forbidden'}]`,
    source: 'reported',
  },
  // The boot disk's layout.
  PT_NONE: { stage: 'converting', message: fixed('ClientError: No valid partition. Not a valid volume.'), source: 'reported' },
  BOOT_NO_BOOTABLE_PARTITION: { stage: 'converting', message: fixed('ClientError: No bootable partition found.'), source: 'documented' },
  MBR_OVER_2TIB: { stage: 'converting', message: fixed('ClientError: Unsupported configuration - MBR partition larger than 2 TiB'), source: 'inferred' },
  GUEST_ENCRYPTED_VOLUME: { stage: 'converting', message: fixed('ClientError: Unsupported configuration - encrypted volume'), source: 'inferred' },
  FS_UNSUPPORTED: { stage: 'converting', message: fixed('ClientError: Unknown OS / Missing OS files.'), source: 'reported' },
  LINUX_MULTIPLE_ROOTS: { stage: 'converting', message: fixed('ClientError: Unsupported configuration - Multiple directories found'), source: 'documented' },
  DUAL_BOOT: { stage: 'converting', message: fixed('ClientError: Unsupported configuration - Multiple directories found'), source: 'inferred' },
  // The guest, as the service's conversion and first boot see it.
  ARCH_ARM64: { stage: 'updating', message: fixed('ClientError: Unsupported architecture arm64'), source: 'inferred' },
  LINUX_32BIT: { stage: 'updating', message: fixed('ClientError: Unsupported OS - 32-bit Linux'), source: 'inferred' },
  KERNEL_UNDETECTABLE: { stage: 'updating', message: fixed('ClientError: Unable to determine kernel version.'), source: 'reported' },
  LINUX_FSTAB_UNREADABLE: { stage: 'updating', message: fixed('ClientError: Invalid configuration - Could not read fstab'), source: 'documented' },
  BOOTMODE_UEFI_PREFERRED: { stage: 'booting', message: fixed('ClientError: Unsupported boot mode uefi-preferred'), source: 'inferred' },
  UEFI_BOOTMODE_MISMATCH: { stage: 'booting', message: fixed('ClientError: The requested boot mode is not supported by the image'), source: 'inferred' },
  UEFI_LINUX_NO_FALLBACK: { stage: 'booting', message: fixed('ClientError: Unsupported configuration - no \\EFI\\BOOT\\BOOTX64.EFI on the EFI System Partition'), source: 'inferred' },
};

/**
 * Preflight warnings the real service is known to fail on (it gives these very messages), so the sandbox fails
 * on them too: `check` passes such an image with a warning, the import does not.
 */
export const FAILING_WARNINGS: ReadonlySet<string> = new Set(['KERNEL_UNDETECTABLE', 'LINUX_FSTAB_UNREADABLE']);

/** The outcome for a code, or undefined when the code does not end an import. */
export function outcomeOf(code: string): Outcome | undefined {
  return Object.hasOwn(OUTCOMES, code) ? OUTCOMES[code] : undefined;
}
