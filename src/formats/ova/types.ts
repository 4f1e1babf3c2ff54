/**
 * The shapes readOva hands to its callers (inspect, check). Everything here is plain data, JSON-ready, so reports
 * can carry it as is.
 */
import type { ByteSource } from '../../source/types.js';

export interface TarEntry {
  name: string;
  /** data offset in the OVA */
  offset: number;
  size: number;
}

export interface OvfFile {
  id: string;
  href: string;
  size?: number;
  compression?: 'gzip';
  chunkSize?: number;
}

export interface OvfDisk {
  diskId: string;
  fileRef?: string;
  href?: string;
  /** bytes */
  capacity: number;
  populatedSize?: number;
  /** the ovf:format URI */
  format?: string;
  /** 'vmdk-streamOptimized' | 'vmdk-sparse' | 'vhd' | ... */
  formatName?: string;
  /** 'ide' | 'scsi:lsilogic' | 'sata' | 'nvme' ... from the VirtualHardwareSection Item that references it */
  controller?: string;
}

export interface OvfDescriptor {
  version: 1 | 2;
  name?: string;
  product?: string;
  osId?: number;
  osType?: string;
  osDescription?: string;
  firmware?: 'efi' | 'bios';
  secureBoot?: boolean;
  virtualSystemType?: string;
  cpus?: number;
  memoryMiB?: number;
  files: OvfFile[];
  disks: OvfDisk[];
  /** Network adapters (Items of ResourceType 10) of the virtual system. */
  networks: number;
}

export type ManifestAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface ManifestLine {
  algorithm: ManifestAlgorithm;
  name: string;
  /** lower-case hex */
  digest: string;
}

export interface Verification {
  checked: string[];
  mismatches: { name: string; algorithm: string; expected: string; actual: string }[];
  /** manifest lines naming files that are not in the tar */
  missing: string[];
  /** tar entries the manifest does not cover (excluding .mf/.cert) */
  unlisted: string[];
}

export interface OvaDiskVisit<T> {
  disk: OvfDisk;
  entry: TarEntry;
  result: T;
}

export interface OvaReadOptions<T> {
  verify?: boolean;
  /**
   * Called once per disk file the OVF references, with a ByteSource over the entry (random access for a file source,
   * forward-only for a pipe; a gzip-declared disk is a forward-only source of the inflated bytes). The visitor opens it
   * itself (openImage) and may close it; closing must not close the OVA.
   */
  visitDisk: (source: ByteSource, entry: TarEntry, disk: OvfDisk | undefined) => Promise<T>;
}

export interface OvaResult<T> {
  ovfName: string;
  ovf: OvfDescriptor;
  entries: TarEntry[];
  manifest?: { name: string; lines: ManifestLine[] };
  certificate?: string;
  /** in OVF DiskSection order */
  disks: OvaDiskVisit<T>[];
  verification?: Verification;
  bytesRead: number;
}
