/**
 * Named maxima. Every length or count taken from a file is checked against the source size and one of these
 * before anything is allocated or read, so hostile headers cannot make diskport allocate or loop without bound.
 */
export const Limits = {
  /** Largest virtual disk we accept: 4 PiB, well past any format's real limit, still an exact JS number. */
  maxVirtualSize: 2 ** 52,
  /** Largest single read any reader issues (tables are read whole up to this). */
  maxRead: 64 * 1024 * 1024,
  /** Largest allocation table (BAT, GD, L1, ...) read into memory at once. */
  maxTableBytes: 64 * 1024 * 1024,
  /** Largest text descriptor (VMDK) we parse. */
  maxDescriptorBytes: 1024 * 1024,
  /** Most extent lines in one VMDK descriptor (twoGbMaxExtent* of a 62 TiB disk needs 31,744). */
  maxExtents: 32 * 1024,
  /** Data is handed out in pieces no larger than this, whatever the format's block size. */
  dataChunk: 4 * 1024 * 1024,
  /** How much of the start of a forward-only source is kept, so detection and headers can be re-read. */
  forwardHeadKeep: 1024 * 1024,
  /** Largest OVF descriptor we read into memory (real ones are tens of KiB). */
  maxOvfBytes: 4 * 1024 * 1024,
  /** Largest OVA manifest (.mf) we read into memory. */
  maxManifestBytes: 1024 * 1024,
  /** Most entries (files and directories) in one OVA's tar. */
  maxTarEntries: 10_000,
  /** Largest pax or GNU long-name record block in a tar (tar-stream, used for pipes, stops at the same size). */
  maxTarExtendedHeaderBytes: 4 * 1024 * 1024,
} as const;
