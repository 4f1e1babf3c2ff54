/**
 * File-system detection: which file system a partition (or a whole disk) holds, read from its superblock; and
 * the UEFI fallback loaders on a FAT EFI System Partition.
 */
export { detectFilesystem } from './detect.js';
export type { Filesystem, FilesystemType } from './detect.js';
export { findEfiLoaders } from './fat.js';
export type { EfiLoader, EspContents } from './fat.js';
export { architectureOfMachine, peMachine } from './pe.js';
export type { EfiArchitecture } from './pe.js';
