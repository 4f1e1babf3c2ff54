/**
 * Which Linux distribution and kernels an ext2/3/4 root file system holds, from the files every distribution
 * keeps for that purpose: os-release (freedesktop.org, os-release(5)), or the one-line release files older ones
 * used, and the kernel images in /boot (or, when /boot is a separate partition, the module trees under
 * /lib/modules). Reads a few directories and files through ext.ts, so the same bounds and the same rule hold:
 * garbage gives null, only the image's own DiskErrors escape.
 */
import type { DiskImage } from '../image/types.js';
import { openExtVolume, type ExtDirectoryEntry, type ExtVolume } from './ext.js';

export type ReleaseSource =
  | '/etc/os-release'
  | '/usr/lib/os-release'
  | '/etc/redhat-release'
  | '/etc/debian_version'
  | '/etc/SuSE-release';

export interface LinuxRelease {
  /** os-release ID, e.g. 'ubuntu', 'rhel'; from a one-line file only where its text names a known distribution. */
  id?: string;
  versionId?: string;
  name?: string;
  prettyName?: string;
  idLike?: string[];
  /** Kernel versions ('5.15.0-91-generic'), in version order, the newest ReleaseLimits.maxKernels at most. */
  kernels: string[];
  /** The file the release facts came from; null when /etc exists but holds none of them. */
  source: ReleaseSource | null;
  /** /etc/fstab's entries; null when there is no readable /etc/fstab. */
  fstab: FstabEntry[] | null;
}

/** One /etc/fstab line (fstab(5)): what is mounted where, as what. */
export interface FstabEntry {
  spec: string;
  mountPoint: string;
  type: string;
  options: string[];
}

export const ReleaseLimits = {
  /** os-release is a few hundred bytes; the one-line files less. */
  maxReleaseBytes: 64 * 1024,
  maxKernels: 32,
  /** Entries read from /boot, /lib/modules or a boot volume's root. */
  maxDirectoryEntries: 4096,
  /** A real fstab is a few KiB; the rest of a bigger one is not read. */
  maxFstabBytes: 64 * 1024,
  maxFstabEntries: 256,
} as const;

/**
 * The release and kernels of the root file system in [start, start + size). Null when the range is no ext2/3/4
 * volume this reader can walk, or has no /etc directory (a /boot, /home or data volume).
 */
export async function linuxRelease(image: DiskImage, start: number, size: number): Promise<LinuxRelease | null> {
  const fs = await openExtVolume(image, start, size);
  if (fs === null || (await fs.typeOf('/etc')) !== 'dir') return null;
  const release = (await fromOsRelease(fs)) ?? (await fromOneLineFile(fs));
  const kernels = await installedKernels(fs);
  const fstabBytes = await fs.readFile('/etc/fstab', ReleaseLimits.maxFstabBytes);
  const fstab = fstabBytes === null ? null : parseFstab(Buffer.from(fstabBytes).toString('utf8'));
  return release === null ? { kernels, source: null, fstab } : { ...release, kernels, fstab };
}

/**
 * fstab(5): whitespace-separated fields, `#` comments, octal escapes (\040 for a space) in the first two fields.
 * Lines with fewer than three fields are skipped (mount would reject them too). At most ReleaseLimits.maxFstabEntries.
 */
export function parseFstab(text: string): FstabEntry[] {
  const entries: FstabEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/);
    if (fields.length < 3 || entries.length >= ReleaseLimits.maxFstabEntries) continue;
    const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    entries.push({ spec: unescape(fields[0]!), mountPoint: unescape(fields[1]!), type: fields[2]!, options: (fields[3] ?? 'defaults').split(',') });
  }
  return entries;
}

/**
 * The kernel versions of a separate /boot volume: the `vmlinuz-<version>` files at its root. Null when the range
 * is no ext2/3/4 volume this reader can walk; [] when it holds no kernel.
 */
export async function bootKernels(image: DiskImage, start: number, size: number): Promise<string[] | null> {
  const fs = await openExtVolume(image, start, size);
  if (fs === null) return null;
  const root = await fs.listDirectory('/', ReleaseLimits.maxDirectoryEntries);
  return root === null ? null : vmlinuzVersions(root);
}

// ---- os-release -----------------------------------------------------------------------------------------

type Release = Omit<LinuxRelease, 'kernels' | 'fstab'>;

/** os-release(5): /etc/os-release first (often a symlink to ../usr/lib/os-release), then /usr/lib/os-release. */
async function fromOsRelease(fs: ExtVolume): Promise<Release | null> {
  for (const source of ['/etc/os-release', '/usr/lib/os-release'] as const) {
    const text = await readText(fs, source);
    if (text === null) continue;
    const fields = parseOsRelease(text);
    const release = withDefined({
      id: fields.get('ID'),
      versionId: fields.get('VERSION_ID'),
      name: fields.get('NAME'),
      prettyName: fields.get('PRETTY_NAME'),
      idLike: fields.get('ID_LIKE')?.split(/\s+/).filter((word) => word !== ''),
    });
    // A file that names nothing (empty, or not os-release at all) leaves the next source to speak.
    if (Object.keys(release).length > 0) return { ...release, source };
  }
  return null;
}

/**
 * Parses os-release text: KEY=value lines, '#' comments and blank lines skipped; values follow shell quoting
 * (double quotes with \" \\ \$ \` escapes, single quotes taken literally, backslash escapes outside quotes).
 * A line that is not an assignment, or whose quote is never closed, is ignored; a later assignment wins.
 */
export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (match === null) continue;
    const value = shellWord(match[2]!);
    if (value !== null) fields.set(match[1]!, value);
  }
  return fields;
}

/** Characters a backslash escapes inside double quotes, as the shell has it; before others it stays literal. */
const DOUBLE_QUOTE_ESCAPES = '$"\\`';

/** One shell word: quoted and unquoted pieces joined; unquoted whitespace ends it. Null on an unclosed quote. */
function shellWord(raw: string): string | null {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === '"') {
      i++;
      while (i < raw.length && raw[i] !== '"') {
        if (raw[i] === '\\' && i + 1 < raw.length && DOUBLE_QUOTE_ESCAPES.includes(raw[i + 1]!)) i++;
        out += raw[i]!;
        i++;
      }
      if (i >= raw.length) return null;
      i++;
    } else if (c === "'") {
      const end = raw.indexOf("'", i + 1);
      if (end === -1) return null;
      out += raw.slice(i + 1, end);
      i = end + 1;
    } else if (c === '\\') {
      if (i + 1 < raw.length) out += raw[i + 1]!;
      i += 2;
    } else if (/\s/.test(c)) {
      break;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

// ---- one-line release files -----------------------------------------------------------------------------

/** os-release IDs of the distributions whose redhat-release line starts with these names. */
const REDHAT_IDS: [RegExp, string][] = [
  [/^Red Hat Enterprise Linux/i, 'rhel'],
  [/^CentOS/i, 'centos'],
  [/^Fedora/i, 'fedora'],
  [/^Rocky Linux/i, 'rocky'],
  [/^AlmaLinux/i, 'almalinux'],
  [/^Oracle Linux/i, 'ol'],
  [/^Amazon Linux/i, 'amzn'],
  [/^Scientific Linux/i, 'scientific'],
];

const SUSE_IDS: [RegExp, string][] = [
  [/^openSUSE/i, 'opensuse'],
  [/^SUSE Linux Enterprise Server/i, 'sles'],
  [/^SUSE Linux Enterprise Desktop/i, 'sled'],
];

/** Systems older than os-release: /etc/redhat-release, /etc/debian_version, /etc/SuSE-release, in that order. */
async function fromOneLineFile(fs: ExtVolume): Promise<Release | null> {
  const redhat = firstLine(await readText(fs, '/etc/redhat-release'));
  if (redhat !== null) {
    // "CentOS Linux release 7.9.2009 (Core)": the name before "release", the version after it.
    const name = /^(.*?)\s+release\b/i.exec(redhat)?.[1];
    return {
      ...withDefined({
        id: idFrom(REDHAT_IDS, redhat),
        versionId: /\brelease\s+(\d+(?:\.\d+)*)/i.exec(redhat)?.[1],
        name,
        prettyName: redhat,
      }),
      source: '/etc/redhat-release',
    };
  }
  const debian = firstLine(await readText(fs, '/etc/debian_version'));
  if (debian !== null) {
    // "12.4", or a codename ("bookworm/sid") on testing and unstable, which gives no version.
    return { id: 'debian', ...withDefined({ versionId: /^\d+(\.\d+)*$/.test(debian) ? debian : undefined }), source: '/etc/debian_version' };
  }
  const suseText = await readText(fs, '/etc/SuSE-release');
  const suse = firstLine(suseText);
  if (suse !== null) {
    // "SUSE Linux Enterprise Server 11 (x86_64)" then "VERSION = 11" and "PATCHLEVEL = 4" lines: 11.4, as
    // the os-release of later service packs writes it.
    const version = /^VERSION\s*=\s*(\S+)/m.exec(suseText!)?.[1];
    const patch = /^PATCHLEVEL\s*=\s*(\d+)/m.exec(suseText!)?.[1];
    return {
      ...withDefined({
        id: idFrom(SUSE_IDS, suse),
        versionId: version === undefined ? undefined : patch === undefined || patch === '0' ? version : `${version}.${patch}`,
        name: suse.replace(/\s*\([^)]*\)\s*$/, ''),
        prettyName: suse,
      }),
      source: '/etc/SuSE-release',
    };
  }
  return null;
}

function idFrom(table: [RegExp, string][], line: string): string | undefined {
  return table.find(([pattern]) => pattern.test(line))?.[1];
}

// ---- kernels --------------------------------------------------------------------------------------------

/**
 * The `vmlinuz-<version>` files in /boot; when there are none (a separate /boot partition, or a container-style
 * root), the version-named directories under /lib/modules and /usr/lib/modules (the same one on merged-/usr
 * systems, where /lib is a symlink to usr/lib).
 */
async function installedKernels(fs: ExtVolume): Promise<string[]> {
  const boot = vmlinuzVersions((await fs.listDirectory('/boot', ReleaseLimits.maxDirectoryEntries)) ?? []);
  if (boot.length > 0) return boot;
  const versions: string[] = [];
  for (const dir of ['/lib/modules', '/usr/lib/modules']) {
    for (const entry of (await fs.listDirectory(dir, ReleaseLimits.maxDirectoryEntries)) ?? []) {
      // Kernel versions start with a digit; other names there (Arch's "extramodules-*") are not kernels.
      if (entry.type === 'dir' && /^\d/.test(entry.name)) versions.push(entry.name);
    }
  }
  return newest(versions);
}

const VMLINUZ = 'vmlinuz-';

/**
 * Versions from `vmlinuz-<version>` files and symlinks. The rescue image Red Hat systems keep
 * (vmlinuz-0-rescue-<machine id>) is a copy of an installed kernel, not a version of its own, and is left out.
 */
function vmlinuzVersions(entries: ExtDirectoryEntry[]): string[] {
  const versions = entries
    .filter((e) => (e.type === 'file' || e.type === 'symlink') && e.name.startsWith(VMLINUZ))
    .map((e) => e.name.slice(VMLINUZ.length))
    .filter((version) => version !== '' && !/^0-rescue-/.test(version));
  return newest(versions);
}

/** Distinct versions in version order, the newest maxKernels of them. */
function newest(versions: string[]): string[] {
  const sorted = [...new Set(versions)].sort(compareVersions);
  return sorted.slice(Math.max(0, sorted.length - ReleaseLimits.maxKernels));
}

/** Orders '5.15.0-91-generic' before '6.1.0-13-amd64' before '6.10.2': digit runs compare as numbers. */
export function compareVersions(a: string, b: string): number {
  const left = a.split(/(\d+)/);
  const right = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i]!;
    const y = right[i]!;
    if (x === y) continue;
    // split() with a capturing group puts the digit runs at odd indexes.
    if (i % 2 === 1) {
      const byNumber = compareDigits(x, y);
      if (byNumber !== 0) return byNumber;
    }
    return x < y ? -1 : 1;
  }
  return left.length - right.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Numeric order of two digit strings of any length (leading zeros ignored). */
function compareDigits(x: string, y: string): number {
  const a = x.replace(/^0+(?=\d)/, '');
  const b = y.replace(/^0+(?=\d)/, '');
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

// ---- helpers --------------------------------------------------------------------------------------------

/** A file's text (UTF-8), or null when it is missing or unreadable. */
async function readText(fs: ExtVolume, path: string): Promise<string | null> {
  const bytes = await fs.readFile(path, ReleaseLimits.maxReleaseBytes);
  return bytes === null ? null : Buffer.from(bytes).toString('utf8');
}

/** The first non-blank line, trimmed; null for a missing or blank file. */
function firstLine(text: string | null): string | null {
  if (text === null) return null;
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
  return line === undefined ? null : line;
}

/** Keeps only the fields that have a value (empty strings and empty lists count as none). */
function withDefined<T extends Record<string, string | string[] | undefined>>(
  fields: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value.length > 0) out[key] = value;
  }
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
