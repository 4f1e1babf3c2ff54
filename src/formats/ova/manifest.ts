/**
 * The manifest (.mf, formats.md 6.2): one `ALGO(name)= hex` line per file of the package, and the comparison of its
 * digests with the ones computed over the tar entries. Accepts what producers write: SHA1/SHA256/SHA512, spaces
 * around ( ) and =, CRLF, either hex case.
 */
import { memberName } from './catalog.js';
import { ovaError } from './fail.js';
import type { ManifestAlgorithm, ManifestLine, TarEntry, Verification } from './types.js';

const HEX_LENGTH: Record<ManifestAlgorithm, number> = { sha1: 40, sha256: 64, sha512: 128 };
const LINE = /^(SHA1|SHA256|SHA512)\s*\((.*)\)\s*=\s*([0-9A-Fa-f]+)$/i;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export interface ManifestOrigin {
  file: string;
  entry: string;
  /** Offset of the manifest entry's tar header. */
  offset: number;
}

export function parseManifest(bytes: Uint8Array, origin: ManifestOrigin): ManifestLine[] {
  const fail = (message: string, field: string) => ovaError(origin.file, 'MANIFEST_INVALID', `${origin.entry}: ${message}`, origin.offset, field);
  let text: string;
  try {
    text = UTF8.decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw fail('not UTF-8 text', 'manifest');
  }
  const lines: ManifestLine[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const match = LINE.exec(line);
    const field = `manifest line ${index + 1}`;
    if (match === null) throw fail(`line ${index + 1} is not ALGO(name)= hexdigest: ${JSON.stringify(line.slice(0, 120))}`, field);
    const algorithm = match[1]!.toLowerCase() as ManifestAlgorithm;
    const digest = match[3]!.toLowerCase();
    if (digest.length !== HEX_LENGTH[algorithm]) {
      throw fail(`line ${index + 1}: a ${algorithm} digest has ${HEX_LENGTH[algorithm]} hex digits, this one ${digest.length}`, field);
    }
    const written = match[2]!.trim();
    if (written === '') throw fail(`line ${index + 1} names no file`, field);
    // Matched against entries by the same normalised name; a name that could not be an entry is kept as written.
    lines.push({ algorithm, name: memberName(written) ?? written, digest });
  });
  return lines;
}

/** The algorithms the manifest uses for one file. */
export function algorithmsFor(lines: ManifestLine[], name: string): ManifestAlgorithm[] {
  return [...new Set(lines.filter((line) => line.name === name).map((line) => line.algorithm))];
}

/**
 * Compares every manifest line with the digest computed for its entry. `skip` holds the entries no manifest lists
 * (the manifest itself and the certificate).
 */
export function compareManifest(
  lines: ManifestLine[],
  entries: TarEntry[],
  skip: ReadonlySet<string>,
  digestOf: (name: string, algorithm: ManifestAlgorithm) => string | undefined,
): Verification {
  const present = new Set(entries.map((entry) => entry.name));
  const listed = new Set(lines.map((line) => line.name));
  const checked = new Set<string>();
  const missing = new Set<string>();
  const mismatches: Verification['mismatches'] = [];
  for (const line of lines) {
    if (!present.has(line.name)) {
      missing.add(line.name);
      continue;
    }
    const actual = digestOf(line.name, line.algorithm);
    if (actual === undefined) continue; // not computed: cannot happen for a listed entry, kept out of `checked`
    checked.add(line.name);
    if (actual !== line.digest) mismatches.push({ name: line.name, algorithm: line.algorithm, expected: line.digest, actual });
  }
  const unlisted = entries.map((entry) => entry.name).filter((name) => !listed.has(name) && !skip.has(name));
  return { checked: [...checked], mismatches, missing: [...missing], unlisted };
}
