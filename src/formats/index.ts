/**
 * The readers, in detection order. Signatures at offset 0 come first; VHD (whose fixed variant is only known by
 * its footer) comes after them; RAW claims everything else. No registration by import side effect.
 */
import type { DiskFormat, FormatName } from '../image/types.js';
import { qcow2 } from './qcow2/index.js';
import { raw } from './raw/index.js';
import { vhd } from './vhd/index.js';
import { vhdx } from './vhdx/index.js';
import { vmdk } from './vmdk/index.js';

export const FORMATS: readonly DiskFormat[] = [
  qcow2,
  vhdx,
  vmdk,
  vhd,
  raw,
];

export function formatByName(name: string): DiskFormat | undefined {
  return FORMATS.find((format) => format.name === name);
}

export const FORMAT_NAMES: readonly FormatName[] = ['raw', 'vmdk', 'vhd', 'vhdx', 'qcow2'];
