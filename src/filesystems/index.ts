/**
 * File-system detection: which file system a partition (or a whole disk) holds, read from its superblock; and
 * the UEFI fallback loaders on a FAT EFI System Partition; files, directories and the Linux release on ext2/3/4;
 * Windows hints (\Windows, System32, bootmgr, page and hibernation files) on NTFS.
 */
export { detectFilesystem } from './detect.js';
export type { Filesystem, FilesystemType } from './detect.js';
export { findEfiLoaders } from './fat.js';
export type { EfiLoader, EspContents } from './fat.js';
export { architectureOfMachine, peMachine } from './pe.js';
export type { EfiArchitecture } from './pe.js';
export { ExtLimits, listExtDirectory, openExtVolume, readExtFile } from './ext.js';
export type { ExtDirectoryEntry, ExtEntryType, ExtVolume } from './ext.js';
export { ReleaseLimits, bootKernels, compareVersions, linuxRelease, parseFstab, parseOsRelease } from './os.js';
export type { FstabEntry, LinuxRelease, ReleaseSource } from './os.js';
export { NtfsLimits, windowsHints } from './ntfs.js';
export type { WindowsHints } from './ntfs.js';
