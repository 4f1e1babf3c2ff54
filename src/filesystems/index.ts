/** File-system detection: which file system a partition (or a whole disk) holds, read from its superblock. */
export { detectFilesystem } from './detect.js';
export type { Filesystem, FilesystemType } from './detect.js';
