/**
 * What the image says of its guest: platform (Windows/Linux), architecture and boot mode, each with the
 * evidence it came from. The OVF's own words (osType, firmware) come first; the disk's contents (file systems,
 * the ESP's fallback loaders) fill the gaps. Nothing here guesses when the evidence disagrees: it says null.
 */
import type { DiskReport, OvaReport } from '../inspect.js';
import type { GuestFacts, Subject } from './types.js';

const WINDOWS_OS = /^win|\bwindows\b/i;
const LINUX_OS =
  /linux|ubuntu|debian|rhel|red ?hat|centos|fedora|sles|suse|oracle|amazon|rocky|alma|photon|coreos|mint|gentoo|mandriva|asianux|turbolinux|kali/i;
const ARM_OS = /^arm-|arm64|aarch64/i;
/** VMware writes `…64Guest`, VirtualBox `…_64`, descriptions `(64-bit)`. */
const OS_64BIT = /64/;

const LINUX_FILESYSTEMS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'jfs', 'lvm2', 'swap']);

export function guestFacts(disks: DiskReport[], ova: OvaReport | null): GuestFacts {
  const evidence: string[] = [];
  const boot = disks[0];
  const osText = [ova?.ovf.osType, ova?.ovf.osDescription].filter((text) => text !== undefined && text !== '').join(' ');
  const platform = platformFromOs(osText, evidence) ?? platformFromRelease(boot, evidence) ?? platformFromWindowsFolder(boot, evidence) ??
    platformFromFilesystems(disks, evidence);
  const architecture = architectureFromLoaders(boot, evidence) ?? architectureFromOs(osText, evidence);
  const firmware = ova?.ovf.firmware ?? null;
  if (firmware !== null) evidence.push(`OVF firmware ${firmware}`);
  return { platform, architecture, bootMode: boot?.bootMode ?? null, firmware, evidence };
}

function platformFromOs(osText: string, evidence: string[]): GuestFacts['platform'] {
  if (osText === '') return null;
  const platform = WINDOWS_OS.test(osText) ? 'Windows' : LINUX_OS.test(osText) ? 'Linux' : null;
  if (platform !== null) evidence.push(`OVF operating system "${osText}"`);
  return platform;
}

/** An ext root file system with an os-release (or the like) is Linux, whatever else the disk holds. */
function platformFromRelease(boot: DiskReport | undefined, evidence: string[]): GuestFacts['platform'] {
  const release = (boot?.partitions ?? []).find((p) => p.linux !== undefined)?.linux;
  if (release === undefined) return null;
  evidence.push(`Linux root file system (${release.prettyName ?? release.id ?? release.source ?? '/etc'})`);
  return 'Linux';
}

/** An NTFS volume with \Windows\System32 is a Windows installation. */
function platformFromWindowsFolder(boot: DiskReport | undefined, evidence: string[]): GuestFacts['platform'] {
  const windows = (boot?.partitions ?? []).find((p) => p.windows?.windowsFolder && p.windows.system32);
  if (windows === undefined) return null;
  evidence.push(`\\Windows\\System32 on NTFS partition ${windows.index}`);
  return 'Windows';
}

/** NTFS alone means Windows; Linux file systems alone mean Linux; both (or neither) decide nothing. */
function platformFromFilesystems(disks: DiskReport[], evidence: string[]): GuestFacts['platform'] {
  const found = new Set(disks.flatMap((disk) => disk.filesystems ?? []));
  const windows = found.has('ntfs');
  const linux = [...found].some((type) => LINUX_FILESYSTEMS.has(type));
  if (windows === linux) return null;
  evidence.push(windows ? 'NTFS and no Linux file system' : `Linux file systems (${[...found].filter((t) => LINUX_FILESYSTEMS.has(t)).join(', ')})`);
  return windows ? 'Windows' : 'Linux';
}

/** The ESP's fallback loaders name the architecture the firmware will boot; x86_64 wins when several exist. */
function architectureFromLoaders(boot: DiskReport | undefined, evidence: string[]): GuestFacts['architecture'] {
  const loaders = (boot?.partitions ?? []).flatMap((partition) => partition.esp?.loaders ?? []);
  const architectures = new Set(loaders.map((loader) => loader.architecture));
  for (const candidate of ['x86_64', 'arm64', 'i386'] as const) {
    if (architectures.has(candidate)) {
      evidence.push(`EFI loader ${loaders.find((l) => l.architecture === candidate)!.path}`);
      return candidate;
    }
  }
  return null;
}

/** Only an OS the OVF names as Windows or Linux says 32-bit by lacking "64" (`otherGuest` says nothing). */
function architectureFromOs(osText: string, evidence: string[]): GuestFacts['architecture'] {
  const known = WINDOWS_OS.test(osText) || LINUX_OS.test(osText);
  const architecture = ARM_OS.test(osText) ? 'arm64' : OS_64BIT.test(osText) ? 'x86_64' : known ? 'i386' : null;
  if (architecture !== null) evidence.push(`architecture ${architecture} from the OVF operating system "${osText}"`);
  return architecture;
}

/**
 * The BootMode the import should ask for: the user's choice, else the disk's only way to boot, else (a disk that
 * boots both ways) the OVF's firmware; undefined leaves it to VM Import (which picks legacy BIOS for such disks).
 * Never `uefi-preferred`: ImportImage rejects it.
 */
export function requestedBootMode(subject: Subject): 'legacy-bios' | 'uefi' | undefined {
  const chosen = subject.intent.bootMode;
  if (chosen === 'legacy-bios' || chosen === 'uefi') return chosen;
  const { bootMode, firmware } = subject.guest;
  if (bootMode === 'legacy-bios' || bootMode === 'uefi') return bootMode;
  if (firmware !== null) return firmware === 'efi' ? 'uefi' : 'legacy-bios';
  return undefined;
}

/** The platform the import will name: the user's word, else the image's evidence. */
export function platformOf(subject: Subject): 'Windows' | 'Linux' | null {
  return subject.intent.platform ?? subject.guest.platform;
}

/** The architecture the guest runs: the user's word, else the image's evidence. */
export function architectureOf(subject: Subject): 'x86_64' | 'i386' | 'arm64' | null {
  return subject.intent.architecture ?? subject.guest.architecture;
}
