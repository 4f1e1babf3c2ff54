import { DiskError, type ErrorCode } from '../../errors.js';
import type { ByteSource } from '../../source/types.js';

/** A DiskError from the VHDX reader, naming the file, the structure's file offset and the field at fault. */
export function vhdxError(source: ByteSource, code: ErrorCode, message: string, offset: number, field: string): DiskError {
  return new DiskError(code, message, { file: source.name, format: 'vhdx', offset, field });
}
