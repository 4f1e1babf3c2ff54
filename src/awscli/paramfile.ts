/**
 * The AWS CLI's parameter files: an argument written `file://path` (or `fileb://path`) stands for the file's
 * contents, which are then read as the argument itself would be (JSON, shorthand, or a plain string). `~` and
 * `$VARIABLE`s in the path are expanded, as the CLI does. http(s):// values are kept as they are (aws-cli v2;
 * v1 fetched them unless cli_follow_urlparam was off).
 */
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { DiskError } from '../errors.js';

/** Far above any real argument (a 21-disk ImportImage request is a few KiB); larger files are refused unread. */
export const MAX_PARAM_FILE_BYTES = 1024 * 1024;

const PREFIX = /^fileb?:\/\//;

export function isParamFile(value: string): boolean {
  return PREFIX.test(value);
}

/** The value itself, or the contents of the file it names. `option` names the argument in errors. */
export async function resolveParamFile(value: string, option: string): Promise<string> {
  return isParamFile(value) ? readParamFile(value, option) : value;
}

export async function readParamFile(value: string, option: string): Promise<string> {
  const path = expandPath(value.replace(PREFIX, ''));
  const size = await stat(path).then(
    (info) => (info.isFile() ? info.size : -1),
    (error: NodeJS.ErrnoException) => {
      throw new DiskError(error.code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'IO_ERROR', `${option}: cannot read ${value}: ${error.code ?? error.message}`, { file: path, field: option, cause: error });
    },
  );
  if (size < 0) throw new DiskError('USAGE', `${option}: ${value} is not a regular file`, { file: path, field: option });
  if (size > MAX_PARAM_FILE_BYTES) {
    throw new DiskError('LIMIT_EXCEEDED', `${option}: ${value} holds ${size} bytes; a parameter file may hold at most ${MAX_PARAM_FILE_BYTES}`, { file: path, field: option });
  }
  const bytes = await readFile(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DiskError('USAGE', `${option}: ${value} is not UTF-8 text`, { file: path, field: option });
  }
}

/** `~` or `~/…` at the start, then `$NAME` and `${NAME}` (an unset variable stays as written, as Python's expandvars). */
function expandPath(path: string): string {
  const home = path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
  return home.replace(/\$(\w+)|\$\{([^}]+)\}/g, (whole, bare: string | undefined, braced: string | undefined) => process.env[(bare ?? braced)!] ?? whole);
}
