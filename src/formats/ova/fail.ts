import { DiskError, type ErrorCode } from '../../errors.js';

/** A DiskError from the OVA reader: the OVA's name, the offset of the tar header (or entry data) at fault, the field. */
export function ovaError(file: string, code: ErrorCode, message: string, offset: number | undefined, field: string): DiskError {
  return new DiskError(code, message, { file, format: 'ova', ...(offset === undefined ? {} : { offset }), field });
}
