/** diskport's library entry. The CLI (src/cli) is a thin layer over these calls. */
export { inspect, type InspectReport, type DiskReport, type OvaReport, type OvaDiskReport, type InspectOptions } from './inspect.js';
export { check, type CheckOptions, type CheckReport } from './check.js';
export { checkMany, expandInputs, type CheckOutcome, type CheckManyOptions } from './workers/check-many.js';
export { destroyPool } from './workers/pool.js';
export { RULES, RULE_CODES, buildImportImageRequest, type Finding, type ImportImageRequest, type Rule, type Severity } from './preflight/index.js';
export { readOva, type OvfDescriptor, type OvfDisk, type TarEntry, type Verification } from './formats/ova/index.js';
export { openImage, type OpenImageOptions } from './open.js';
export { readPartitionTable, type BootMode, type Partition, type PartitionTable, type Problem } from './partitions/index.js';
export { guestBytes, writeGuestFile, writeGuestStream } from './cat.js';
export { DiskError, ErrorCodes, ExitStatus, isDiskError, type ErrorCode } from './errors.js';
export { Limits } from './limits.js';
export { FORMATS, FORMAT_NAMES } from './formats/index.js';
export { openSource, FileSource, ForwardSource, type ByteSource } from './source/open.js';
export { MemorySource } from './source/memory.js';
export type { DiskImage, DiskFormat, Extent, FormatName, OpenOptions, Probe } from './image/types.js';
export { startSandbox, startSandboxS3, SANDBOX_CREDENTIALS, SANDBOX_REGION, DEFAULT_BUCKET as SANDBOX_BUCKET, OUTCOMES as SANDBOX_OUTCOMES, type Sandbox, type SandboxOptions, type SandboxS3, type SandboxS3Options } from './sandbox/index.js';
