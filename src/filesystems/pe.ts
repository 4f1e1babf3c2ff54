/**
 * The machine type of a PE/COFF image (an EFI application), from its first bytes: "MZ", e_lfanew at 0x3C, then
 * "PE\0\0" and the COFF header's Machine field (Microsoft "PE Format"). Enough to tell which CPU a loader is for.
 */
import { DOS_HEADER, PE_HEADER } from './structs.js';

export type EfiArchitecture = 'x86_64' | 'i386' | 'arm64' | 'arm' | 'riscv64';

/** IMAGE_FILE_MACHINE_* values of the CPUs UEFI boots (PE Format, "Machine Types"). */
const MACHINES: ReadonlyMap<number, EfiArchitecture> = new Map([
  [0x8664, 'x86_64'],
  [0x014c, 'i386'],
  [0xaa64, 'arm64'],
  // ARM, Thumb and ARMv7 Thumb-2 images all run on 32-bit ARM firmware.
  [0x01c0, 'arm'],
  [0x01c2, 'arm'],
  [0x01c4, 'arm'],
  [0x5064, 'riscv64'],
] as const);

const PE_SIGNATURE = [0x50, 0x45, 0, 0];

/**
 * The COFF Machine field when `bytes` (the start of a file) hold a valid MS-DOS header pointing at a PE
 * signature and a whole COFF header inside them; undefined otherwise. Never throws.
 */
export function peMachine(bytes: Uint8Array): number | undefined {
  if (bytes.length < DOS_HEADER.size) return undefined;
  const dos = DOS_HEADER.decode(bytes);
  if (dos.magic !== 'MZ') return undefined;
  // e_lfanew is attacker-chosen: the header must lie wholly inside what was read.
  if (dos.peOffset > bytes.length - PE_HEADER.size) return undefined;
  const pe = PE_HEADER.decode(bytes, dos.peOffset);
  if (!PE_SIGNATURE.every((b, i) => pe.signature[i] === b)) return undefined;
  return pe.machine;
}

/** The architecture of a PE machine type; null for machines UEFI loaders are not built for (IA-64, EBC, ...). */
export function architectureOfMachine(machine: number): EfiArchitecture | null {
  return MACHINES.get(machine) ?? null;
}
