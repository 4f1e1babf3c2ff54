/**
 * The header section (MS-VHDX 2.2): two headers and two region tables, each copy protected by CRC-32C. A writer
 * updates one copy at a time, so a reader takes the valid header with the higher sequence number and the first
 * valid region table; only when both copies are unusable is the file refused.
 */
import type { ErrorCode } from '../../errors.js';
import { checkRange, readChecked } from '../../source/check.js';
import type { ByteSource } from '../../source/types.js';
import { Limits } from '../../limits.js';
import type { Decoded } from '../../struct/index.js';
import { crc32cWithZeroedField } from './crc32c.js';
import { vhdxError } from './fail.js';
import {
  HEADER_SIGNATURE, Header, Layout, REGION_TABLE_SIGNATURE, RegionGuid, RegionTableEntry, RegionTableHeader,
} from './structs.js';

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';
const FORMAT = 'vhdx';

/** Why one copy of a duplicated structure was not used; the worst of both copies decides the error code. */
type Problem = 'magic' | 'checksum' | 'field';
const PROBLEM_CODE: Record<Problem, ErrorCode> = { magic: 'BAD_MAGIC', checksum: 'BAD_CHECKSUM', field: 'BAD_HEADER' };
const PROBLEM_RANK: Record<Problem, number> = { magic: 0, checksum: 1, field: 2 };

export interface CurrentHeader {
  readonly header: Decoded<typeof Header.fields>;
  /** 1 or 2. */
  readonly copy: number;
  readonly offset: number;
  /** Set when the other copy was unusable (worth showing: the file was not closed cleanly or is damaged). */
  readonly note: string | undefined;
}

/** Reads both headers and returns the current one, or throws BAD_MAGIC / BAD_CHECKSUM when neither is valid. */
export async function readCurrentHeader(source: ByteSource): Promise<CurrentHeader> {
  const copies: { offset: number; header?: Decoded<typeof Header.fields>; problem?: Problem }[] = [];
  for (const offset of Layout.headers) {
    const bytes = await readChecked(source, offset, Layout.headerChecked, { format: FORMAT, field: 'header' });
    const header = Header.decode(bytes);
    if (header.signature !== HEADER_SIGNATURE) copies.push({ offset, problem: 'magic' });
    else if (crc32cWithZeroedField(bytes, Header.offsetOf('checksum')) !== header.checksum) {
      copies.push({ offset, problem: 'checksum' });
    } else copies.push({ offset, header });
  }
  const valid = copies.filter((copy) => copy.header !== undefined);
  if (valid.length === 0) {
    const worst = worstProblem(copies.map((copy) => copy.problem!));
    throw vhdxError(
      source,
      PROBLEM_CODE[worst],
      worst === 'magic' ? 'neither header carries the "head" signature' : 'both headers fail their CRC-32C checksum',
      Layout.headers[0],
      worst === 'magic' ? 'header.signature' : 'header.checksum',
    );
  }
  const best = valid.reduce((a, b) => (b.header!.sequenceNumber > a.header!.sequenceNumber ? b : a));
  const copy = copies.indexOf(best) + 1;
  const other = copies.find((entry) => entry !== best)!;
  const note =
    other.problem === undefined ? undefined : `header ${3 - copy} is unusable (${other.problem === 'magic' ? 'no signature' : 'bad checksum'}); using header ${copy}`;
  const header = best.header!;
  if (header.version !== 1) {
    throw vhdxError(source, 'UNSUPPORTED_VERSION', `header version ${header.version} (only version 1 is defined)`, best.offset + Header.offsetOf('version'), 'header.version');
  }
  if (header.logGuid !== ZERO_GUID) {
    // Replaying the log would mean writing (or overlaying) BAT and metadata updates before trusting them;
    // reading the stale tables instead could return wrong guest bytes, so say so plainly.
    throw vhdxError(
      source,
      'VHDX_LOG_NOT_EMPTY',
      `the log (LogGuid ${header.logGuid}) may hold entries that must be replayed before the image can be read; ` +
        'open it once in Hyper-V or run qemu-img check -r all to replay it',
      best.offset + Header.offsetOf('logGuid'),
      'header.log_guid',
    );
  }
  return { header, copy, offset: best.offset, note };
}

function worstProblem(problems: Problem[]): Problem {
  return problems.reduce((a, b) => (PROBLEM_RANK[b] > PROBLEM_RANK[a] ? b : a));
}

export interface Region {
  readonly offset: number;
  readonly length: number;
}

export interface Regions {
  readonly bat: Region;
  readonly metadata: Region;
  readonly note: string | undefined;
}

/** Reads the first valid region table and checks the BAT and metadata regions it names. */
export async function readRegions(source: ByteSource): Promise<Regions> {
  const problems: Problem[] = [];
  for (const [index, tableOffset] of Layout.regionTables.entries()) {
    const bytes = await readChecked(source, tableOffset, Layout.regionTableSize, { format: FORMAT, field: 'region_table' });
    const table = RegionTableHeader.decode(bytes);
    if (table.signature !== REGION_TABLE_SIGNATURE) problems.push('magic');
    else if (crc32cWithZeroedField(bytes, RegionTableHeader.offsetOf('checksum')) !== table.checksum) problems.push('checksum');
    else if (table.entryCount > Layout.maxRegionEntries) problems.push('field');
    else {
      const note = index === 0 ? undefined : `region table 1 is unusable (${describe(problems[0]!)}); using region table 2`;
      return { ...parseRegionEntries(source, bytes, table.entryCount, tableOffset), note };
    }
  }
  const worst = worstProblem(problems);
  const messages: Record<Problem, string> = {
    magic: 'neither region table carries the "regi" signature',
    checksum: 'both region tables fail their CRC-32C checksum',
    field: `both region tables are unusable (entry count over ${Layout.maxRegionEntries} or bad checksum)`,
  };
  const fields: Record<Problem, string> = {
    magic: 'region_table.signature', checksum: 'region_table.checksum', field: 'region_table.entry_count',
  };
  throw vhdxError(source, PROBLEM_CODE[worst], messages[worst], Layout.regionTables[0], fields[worst]);
}

function describe(problem: Problem): string {
  return problem === 'magic' ? 'no signature' : problem === 'checksum' ? 'bad checksum' : 'bad entry count';
}

function parseRegionEntries(
  source: ByteSource,
  bytes: Uint8Array,
  count: number,
  tableOffset: number,
): { bat: Region; metadata: Region } {
  const found = new Map<string, Region>();
  for (let i = 0; i < count; i++) {
    const at = RegionTableHeader.size + i * RegionTableEntry.size;
    const entry = RegionTableEntry.decode(bytes, at);
    const where = tableOffset + at;
    const name = entry.guid === RegionGuid.bat ? 'bat' : entry.guid === RegionGuid.metadata ? 'metadata' : undefined;
    if (name === undefined) {
      // Unknown regions are skipped unless the writer marked them as required to understand the file.
      if (entry.required & 1) {
        throw vhdxError(source, 'UNSUPPORTED_FEATURE', `required region ${entry.guid} is not one this reader knows`, where, `region[${i}].required`);
      }
      continue;
    }
    if (found.has(name)) throw vhdxError(source, 'BAD_HEADER', `the ${name} region is listed twice`, where, `region[${i}].guid`);
    const field = `region.${name}`;
    if (entry.fileOffset > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw vhdxError(source, 'OFFSET_OUT_OF_RANGE', `${field}.file_offset ${entry.fileOffset} lies past any file's end`, where, `${field}.file_offset`);
    }
    const offset = Number(entry.fileOffset);
    const length = entry.length;
    if (offset % Layout.alignment !== 0 || offset < Layout.headerSectionSize) {
      throw vhdxError(source, 'BAD_HEADER', `${field}.file_offset ${offset} is not a 1 MiB multiple after the header section`, where, `${field}.file_offset`);
    }
    if (length === 0 || length % Layout.alignment !== 0) {
      throw vhdxError(source, 'BAD_HEADER', `${field}.length ${length} is not a non-zero multiple of 1 MiB`, where, `${field}.length`);
    }
    checkRange(source, offset, length, { format: FORMAT, field, max: Limits.maxTableBytes });
    found.set(name, { offset, length });
  }
  const bat = found.get('bat');
  const metadata = found.get('metadata');
  if (bat === undefined || metadata === undefined) {
    throw vhdxError(source, 'BAD_HEADER', `the region table lacks the ${bat === undefined ? 'BAT' : 'metadata'} region`, tableOffset, 'region_table.entries');
  }
  if (bat.offset < metadata.offset + metadata.length && metadata.offset < bat.offset + bat.length) {
    throw vhdxError(source, 'BAD_HEADER', 'the BAT and metadata regions overlap', tableOffset, 'region_table.entries');
  }
  return { bat, metadata };
}
