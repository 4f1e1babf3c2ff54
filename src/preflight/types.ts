/** The shapes shared by the preflight rules, the check report and the ImportImage request. */
import type { DiskReport, OvaReport } from '../inspect.js';

export type Severity = 'error' | 'warning' | 'info';

/** One thing a rule found: what, where, and what to do about it. */
export interface Finding {
  /** Stable code (README lists them); callers match on it. */
  code: string;
  severity: Severity;
  /** What was found, in plain words, naming the disk when an OVA holds several. */
  message: string;
  /** What to do about it. */
  fix: string;
  /** The AWS requirement behind the rule, with its source. */
  requirement: string;
  /** The disk the finding is about (an OVA entry name, or the file). */
  disk?: string;
}

/** What the user means to ask ImportImage for, where it changes the verdict. */
export interface ImportIntent {
  bootMode?: 'legacy-bios' | 'uefi' | 'uefi-preferred';
  platform?: 'Windows' | 'Linux';
  architecture?: 'x86_64' | 'i386' | 'arm64';
}

/** The facts the rules judge: the inspected image (one disk, or an OVA and its disks) and the intent. */
export interface Subject {
  /** The file as given. */
  file: string;
  /** Standalone disk, or the OVA's disks in OVF order (the first is the boot disk). */
  disks: DiskReport[];
  ova: OvaReport | null;
  guest: GuestFacts;
  intent: ImportIntent;
  /** 'data': a further disk of a VM whose boot disk is another file, so the boot rules do not apply. */
  role: 'boot' | 'data';
}

/** What the image says of its guest, and from where. */
export interface GuestFacts {
  platform: 'Windows' | 'Linux' | null;
  architecture: 'x86_64' | 'i386' | 'arm64' | null;
  /** The boot disk's boot mode as the partition table tells it. */
  bootMode: 'legacy-bios' | 'uefi' | 'uefi-preferred' | null;
  /** The OVF's firmware, when it names one. */
  firmware: 'efi' | 'bios' | null;
  /** How each fact was learned, for the report ("OVF osType ubuntu64Guest", "NTFS only", ...). */
  evidence: string[];
}

/** A rule: data (code, severity, requirement) plus a small pure function over the subject. */
export interface Rule {
  code: string;
  severity: Severity;
  requirement: string;
  /** One hit per problem found (several disks may each hit); empty when the rule passes. */
  test(subject: Subject): RuleHit[];
}

export interface RuleHit {
  message: string;
  fix: string;
  disk?: string;
}
