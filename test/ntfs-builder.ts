/**
 * NTFS volumes for tests, made by mkntfs (no mount). No ntfs-3g userspace tool creates a directory, so a
 * \Windows\System32 volume renames two of the directories mkntfs makes, same length for same length: $Extend
 * becomes Windows and, inside it, $Reparse becomes System32 (marked a directory in its index key). Those are byte
 * edits of names only; every structure around them (records, fixups, index blocks, runs) stays as mkntfs wrote it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

const STRIDE = 512;

/** A fresh NTFS volume of `bytes` at `path` (512-byte sectors, `cluster`-byte clusters); returns the path. */
export function makeNtfs(path: string, cluster = 4096, bytes = 16 * 1024 * 1024): string {
  execFileSync('truncate', ['-s', String(bytes), path]);
  execFileSync('/usr/sbin/mkntfs', ['-F', '-f', '-Q', '-s', '512', '-c', String(cluster), '-L', 'test', path, String(bytes / 512)], {
    stdio: 'ignore',
  });
  return path;
}

/**
 * Replaces every UTF-16LE `from` with `to` (same length) in the volume. Refuses an occurrence that covers the
 * last two bytes of a 512-byte stride, where the fixup would be the one to change.
 */
export function rename(bytes: Buffer, from: string, to: string): number[] {
  const old = Buffer.from(from, 'utf16le');
  const replacement = Buffer.from(to, 'utf16le');
  expect(replacement.length).toBe(old.length);
  const found: number[] = [];
  for (let at = bytes.indexOf(old); at !== -1; at = bytes.indexOf(old, at + 1)) {
    for (let k = 0; k < old.length; k++) expect((at + k) % STRIDE).toBeLessThan(STRIDE - 2);
    replacement.copy(bytes, at);
    found.push(at);
  }
  expect(found.length).toBeGreaterThan(0);
  return found;
}


/** The bytes of the volume at `path` with \Windows\System32 made from $Extend\$Reparse. */
export function windowsVolume(path: string): Buffer {
  const bytes = readFileSync(path);
  rename(bytes, '$Extend', 'Windows');
  // Each System32 found is a $FILE_NAME (index key or the file's own): attributes at 0x38, name at 0x42.
  for (const at of rename(bytes, '$Reparse', 'System32')) {
    const flags = at - 0x42 + 0x38;
    expect(flags % STRIDE).toBeLessThan(STRIDE - 4);
    bytes.writeUInt32LE((bytes.readUInt32LE(flags) | 0x10000000) >>> 0, flags);
  }
  return bytes;
}
