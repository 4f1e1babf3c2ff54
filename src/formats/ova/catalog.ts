/**
 * The rules every tar entry meets, whichever reader found it (the header walker for files, tar-stream for pipes):
 * a safe relative name, a regular file or a directory, no name twice, and no more entries than Limits.maxTarEntries.
 * Keeping them in one place is what makes a file and a pipe give the same answer.
 */
import { Limits } from '../../limits.js';
import { ovaError } from './fail.js';
import type { TarEntry } from './types.js';

/** What a tar header says an entry is, once pax and GNU long-name records are applied. */
export type EntryKind = 'file' | 'directory' | 'link' | 'device' | 'unknown';

export interface HeaderFacts {
  /** The name as the archive spells it (after pax path / GNU long name). */
  name: string;
  kind: EntryKind;
  /** The typeflag (or tar-stream's type), for messages. */
  type: string;
  /** Offset of the entry's own header (not its pax or long-name header). */
  headerOffset: number;
  /** Offset of the entry's data. */
  dataOffset: number;
  size: number;
}

/**
 * The name an archive member is matched by: `./` and empty segments dropped. Returns undefined for a name that could
 * land outside an extraction folder (absolute, a drive letter, or a `..` segment, with either slash), which an OVA
 * never needs and extracting tools have been exploited through.
 */
export function memberName(raw: string): string | undefined {
  if (/^[/\\]/.test(raw) || /^[A-Za-z]:/.test(raw)) return undefined;
  if (raw.split(/[/\\]/).includes('..')) return undefined;
  return raw
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}

export class EntryCatalog {
  readonly entries: TarEntry[] = [];
  private readonly byName = new Map<string, TarEntry>();
  private readonly headers = new Map<string, number>();
  private count = 0;

  constructor(private readonly file: string) {}

  /** Checks one member; returns its entry when it is a regular file, undefined for a directory (skipped). */
  add(facts: HeaderFacts): TarEntry | undefined {
    const at = facts.headerOffset;
    if (++this.count > Limits.maxTarEntries) {
      throw ovaError(this.file, 'LIMIT_EXCEEDED', `more than ${Limits.maxTarEntries} entries in the tar`, at, 'header');
    }
    const name = memberName(facts.name);
    if (name === undefined) {
      throw ovaError(this.file, 'OVA_UNSAFE_PATH', `entry ${JSON.stringify(facts.name)} points outside the archive (absolute or with ..)`, at, 'header.name');
    }
    switch (facts.kind) {
      case 'directory':
        return undefined;
      case 'link':
        throw ovaError(this.file, 'OVA_LINK', `entry ${JSON.stringify(facts.name)} is a link (${facts.type}); an OVA holds only files`, at, 'header.typeflag');
      case 'device':
        throw ovaError(this.file, 'BAD_HEADER', `entry ${JSON.stringify(facts.name)} is a device or FIFO (${facts.type}); an OVA holds only files`, at, 'header.typeflag');
      case 'unknown':
        throw ovaError(this.file, 'UNSUPPORTED_FEATURE', `entry ${JSON.stringify(facts.name)} has tar type ${JSON.stringify(facts.type)}, which an OVA does not use`, at, 'header.typeflag');
      case 'file':
        break;
    }
    if (name === '') throw ovaError(this.file, 'BAD_HEADER', 'a file entry has an empty name', at, 'header.name');
    if (this.byName.has(name)) {
      throw ovaError(this.file, 'OVA_DUPLICATE_ENTRY', `${JSON.stringify(name)} is in the tar twice; which copy counts is up to the extracting tool`, at, 'header.name');
    }
    const entry: TarEntry = { name, offset: facts.dataOffset, size: facts.size };
    this.entries.push(entry);
    this.byName.set(name, entry);
    this.headers.set(name, at);
    return entry;
  }

  /** Offset of the entry's own tar header (what errors about the entry point at). */
  headerOffset(name: string): number | undefined {
    return this.headers.get(name);
  }

  get(name: string): TarEntry | undefined {
    return this.byName.get(name);
  }
}
