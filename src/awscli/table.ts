/**
 * The AWS CLI's `--output table`: one section per object (its scalar members as a header row and a value row,
 * sorted by name; a single scalar as a name/value row), a nested section per object or list member, indented by a
 * `|` per level, every section stretched to the widest one. Wider than the terminal (80 columns when stdout is not
 * one), sections of a single row turn vertical (a name/value row per member), as the CLI does.
 */
import { Double, pythonString, type Printable } from './output.js';

interface Section {
  title: string;
  indent: number;
  headers: string[];
  rows: string[][];
  widths: number[];
}

const PADDING = 4;

export function renderTable(value: Printable, title: string, terminalWidth: number): string {
  const sections: Section[] = [];
  build(sections, title, value, 0);
  if (sections.length === 0) return '';
  let width = maxWidth(sections);
  if (width > terminalWidth) {
    sections.forEach((section, index) => (sections[index] = vertical(section)));
    width = maxWidth(sections);
  }
  return `${'-'.repeat(width)}\n${sections.map((section) => renderSection(section, width)).join('')}`;
}

type PrintableObject = { [key: string]: Printable };
const isScalar = (value: Printable) => typeof value !== 'object' || value instanceof Double;
/** Python's falsiness: an empty answer or member prints nothing. */
const isEmpty = (value: Printable) =>
  value instanceof Double ? value.value === 0
  : typeof value === 'object' ? (Array.isArray(value) ? value.length : Object.keys(value).length) === 0
  : value === '' || value === 0 || value === false;
const sorted = (keys: Iterable<string>) => [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function newSection(sections: Section[], title: string, indent: number): Section {
  const section: Section = { title, indent, headers: [], rows: [], widths: [] };
  sections.push(section);
  return section;
}

function addRow(section: Section, cells: string[], header = false): void {
  if (header) section.headers = cells;
  else section.rows.push(cells);
  section.widths = cells.map((cell, index) => Math.max(textLength(cell), section.widths[index] ?? 0));
}

function build(sections: Section[], title: string | undefined, value: Printable, indent: number): void {
  if (isEmpty(value)) return;
  let section = title === undefined ? sections.at(-1)! : newSection(sections, title, indent);
  if (Array.isArray(value)) {
    if (value[0] !== undefined && !isScalar(value[0]) && !Array.isArray(value[0])) return buildFromList(sections, section, value as PrintableObject[], indent, title ?? '');
    for (const item of value) {
      if (isScalar(item)) addRow(section, [pythonString(item)]);
      else if (Array.isArray(item) && item.every(isScalar)) addRow(section, item.map(pythonString));
      else build(sections, undefined, item, indent);
      section = sections.at(-1)!;
    }
    return;
  }
  if (!isScalar(value)) buildFromObject(sections, section, value as PrintableObject, indent);
}

function buildFromObject(sections: Section[], section: Section, value: PrintableObject, indent: number): void {
  const [scalars, nested] = groupKeys([value]);
  if (scalars.length === 1) addRow(section, [scalars[0]!, pythonString(value[scalars[0]!]!)]);
  else if (scalars.length > 1) {
    addRow(section, scalars, true);
    addRow(section, scalars.map((key) => pythonString(value[key]!)));
  }
  for (const key of nested) build(sections, key, value[key]!, indent + 1);
}

function buildFromList(sections: Section[], first: Section, items: PrintableObject[], indent: number, title: string): void {
  const [headers, nested] = groupKeys(items);
  let section = first;
  addRow(section, headers, true);
  items.forEach((item, index) => {
    if (index > 0 && nested.length > 0) {
      section = newSection(sections, title, indent);
      addRow(section, headers, true);
    }
    addRow(section, headers.map((key) => (item[key] === undefined ? '' : pythonString(item[key]))));
    for (const key of nested) if (key in item) build(sections, key, item[key]!, indent + 1);
  });
}

/** Scalar member names and nested member names, each sorted, over every object given. */
function groupKeys(items: PrintableObject[]): [string[], string[]] {
  const scalars = new Set<string>();
  const nested = new Set<string>();
  for (const item of items) for (const [key, member] of Object.entries(item)) (isScalar(member) ? scalars : nested).add(key);
  return [sorted(scalars), sorted(nested)];
}

function totalWidth(section: Section): number {
  const columns = section.widths.reduce((sum, width) => sum + width + PADDING, 0) + 2 + 2 * section.indent;
  return Math.max(textLength(section.title) + 2 + 2 * section.indent, columns);
}

function maxWidth(sections: Section[]): number {
  return Math.max(...sections.map(totalWidth));
}

/** A one-row section with headers becomes a name/value row per column. */
function vertical(section: Section): Section {
  if (section.rows.length !== 1 || section.headers.length === 0) return section;
  const turned: Section = { title: section.title, indent: section.indent, headers: [], rows: [], widths: [] };
  section.headers.forEach((header, index) => addRow(turned, [header, section.rows[0]![index] ?? '']));
  return turned;
}

function renderSection(section: Section, tableWidth: number): string {
  const edge = '|'.repeat(section.indent);
  const width = tableWidth - 2 * section.indent;
  const lines: string[] = [];
  if (section.title !== '') {
    lines.push(center(section.title, width, '|'));
    if (section.headers.length === 0 && section.rows.length === 0) lines.push(`+${'-'.repeat(width - 2)}+`);
  }
  const widths = columnWidths(section, width);
  if (section.headers.length > 0) {
    lines.push(lineBreak(widths));
    lines.push(section.headers.map((header, index) => center(header, widths[index]!, index === 0 ? '|' : '')).join(''));
  }
  if (section.rows.length > 0 && widths.length > 0) {
    lines.push(lineBreak(widths));
    for (const row of section.rows) lines.push(widths.map((columnWidth, index) => alignLeft(row[index] ?? '', columnWidth, index === 0 ? '|' : '')).join(''));
    lines.push(lineBreak(widths));
  }
  return lines.map((line) => `${edge}${line}${edge}\n`).join('');
}

/** The columns' widths (content + padding) scaled to fill `width`, rounding as Python does, the remainder spread. */
function columnWidths(section: Section, width: number): number[] {
  const unscaled = section.widths.map((columnWidth) => columnWidth + PADDING);
  if (unscaled.length === 0) return [];
  const scale = width / unscaled.reduce((sum, columnWidth) => sum + columnWidth, 0);
  const scaled = unscaled.map((columnWidth) => roundHalfEven(scale * columnWidth));
  let offBy = scaled.reduce((sum, columnWidth) => sum + columnWidth, 0) - width;
  while (offBy !== 0) {
    const order = scaled.map((_, index) => index);
    if (offBy < 0) order.reverse();
    for (const index of order) {
      scaled[index]! += offBy > 0 ? -1 : 1;
      offBy += offBy > 0 ? -1 : 1;
      if (offBy === 0) break;
    }
  }
  return scaled;
}

function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

function center(text: string, length: number, leftEdge: string): string {
  const textWidth = textLength(text);
  const start = Math.max(0, Math.floor(length / 2) - Math.floor(textWidth / 2) - 1);
  const soFar = leftEdge.length + start + textWidth;
  return `${leftEdge}${' '.repeat(start)}${text}${' '.repeat(Math.max(0, length - 1 - soFar))}|`;
}

function alignLeft(text: string, length: number, leftEdge: string): string {
  const textWidth = textLength(text);
  const padding = length - (textWidth + 2 + leftEdge.length + 1) >= 0 ? 2 : 0;
  const soFar = leftEdge.length + padding + textWidth;
  return `${leftEdge}${' '.repeat(padding)}${text}${' '.repeat(Math.max(0, length - soFar - 1))}|`;
}

function lineBreak(widths: number[]): string {
  return widths.map((width, index) => (index === 0 ? `+${'-'.repeat(width - 2)}+` : `${'-'.repeat(width - 1)}+`)).join('');
}

/** Columns a text takes on a terminal: East Asian wide and fullwidth characters take two. */
function textLength(text: string): number {
  let length = 0;
  for (const char of text) length += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{1f300}-\u{1faff}\u{20000}-\u{3fffd}]/u.test(char) ? 2 : 1;
  return length;
}
