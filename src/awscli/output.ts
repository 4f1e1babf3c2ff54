/**
 * Answers printed the way the AWS CLI prints them: members in the model's order, `json` as Python's json.dump with
 * indent 4 (doubles keep their `.0`), `text` as tab-separated lines with upper-case identifiers, `table` as the
 * CLI's boxed sections (src/awscli/table.ts), `yaml` (aws-cli v2) as block YAML with list items at their key's
 * indentation. Scalars in text and table are spelled as Python spells them (True, False, 0.0).
 */
import { Document, Scalar } from 'yaml';
import { DiskError } from '../errors.js';
import { isObject, type Shape } from './shape.js';
import { renderTable } from './table.js';

export type OutputFormat = 'json' | 'yaml' | 'text' | 'table';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['json', 'yaml', 'text', 'table'];

/** A double from the model: printed as Python prints a float. */
export class Double {
  constructor(readonly value: number) {}
  toString(): string {
    return pythonFloat(this.value);
  }
}

/** An answer ready to print: plain values, with doubles marked. */
export type Printable = string | number | boolean | Double | Printable[] | { [key: string]: Printable };

/** The --output option, else AWS_DEFAULT_OUTPUT, else json. */
export function outputFormatOf(option: string | undefined): OutputFormat {
  const format = option ?? process.env.AWS_DEFAULT_OUTPUT ?? 'json';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    const from = option === undefined ? 'AWS_DEFAULT_OUTPUT' : '--output';
    throw new DiskError('USAGE', `${from} must be one of ${OUTPUT_FORMATS.join(', ')}, not ${JSON.stringify(format)}`, { field: '--output' });
  }
  return format as OutputFormat;
}

/** The answer in the shape's member order (members it does not model come last), doubles marked, nothing undefined. */
export function printable(value: unknown, shape: Shape | undefined): Printable | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => printable(item, shape?.type === 'list' ? shape.member : undefined)).filter((item) => item !== undefined);
  if (isObject(value)) {
    const members = shape?.type === 'structure' ? shape.members : {};
    const keys = [...Object.keys(members).filter((key) => key in value), ...Object.keys(value).filter((key) => !(key in members) && !key.startsWith('$'))];
    const memberShape = (key: string) => (shape?.type === 'map' ? shape.value : members[key]);
    return Object.fromEntries(keys.map((key) => [key, printable(value[key], memberShape(key))] as const).filter(([, item]) => item !== undefined)) as Printable;
  }
  if (typeof value === 'number' && shape?.type === 'double') return new Double(value);
  return value as Printable;
}

/** `title` is the API operation (the table's heading). */
export function formatOutput(value: Printable, format: OutputFormat, title: string, terminalWidth = 80): string {
  switch (format) {
    case 'json':
      return `${pythonJson(value, '')}\n`;
    case 'yaml':
      return yamlOf(value);
    case 'text':
      return textOf(value);
    case 'table':
      return renderTable(value, title, terminalWidth);
  }
}

function pythonJson(value: Printable, indent: string): string {
  if (value instanceof Double) return value.toString();
  if (typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => inner + pythonJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([key, item]) => `${inner}${JSON.stringify(key)}: ${pythonJson(item, inner)}`).join(',\n')}\n${indent}}`;
}

function yamlOf(value: Printable): string {
  const toNode = (item: Printable): unknown => {
    if (item instanceof Double) return Object.assign(new Scalar(item.value), { minFractionDigits: 1 });
    if (Array.isArray(item)) return item.map(toNode);
    if (typeof item === 'object') return Object.fromEntries(Object.entries(item).map(([key, member]) => [key, toNode(member)]));
    return item;
  };
  return new Document(toNode(value)).toString({ indentSeq: false });
}

/** A scalar as Python's str() spells it. */
export function pythonString(value: Printable): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/** Python's repr of a float: shortest round-trip digits, fixed notation for exponents -4 to 15, else d.dde+XX. */
export function pythonFloat(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  const [digits, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    return `${digits}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const fixed = value.toFixed(Math.max(0, (digits.split('.')[1]?.length ?? 0) - exponent));
  return fixed.includes('.') ? fixed : `${fixed}.0`;
}

type PrintableObject = { [key: string]: Printable };
const isComposite = (value: Printable): value is Printable[] | PrintableObject => typeof value === 'object' && !(value instanceof Double);
const sortKeys = (keys: Iterable<string>) => [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** The CLI's text format: a line of scalars per object, identifiers in upper case, nested values after it. */
function textOf(value: Printable): string {
  const lines: string[] = [];
  const visit = (item: Printable, identifier?: string, scalarKeys?: string[]): void => {
    if (Array.isArray(item)) return visitList(item, identifier);
    if (isComposite(item)) return visitObject(item, identifier, scalarKeys);
    lines.push(pythonString(item));
  };
  const visitList = (items: Printable[], identifier?: string): void => {
    if (items.length === 0) return;
    if (items.some((item) => isComposite(item) && !Array.isArray(item))) {
      const keys = new Set<string>();
      for (const item of items) if (isComposite(item) && !Array.isArray(item)) for (const [key, member] of Object.entries(item)) if (!isComposite(member)) keys.add(key);
      const scalarKeys = sortKeys(keys);
      for (const item of items) visit(item, identifier, scalarKeys);
      return;
    }
    const scalars = items.filter((item) => !isComposite(item));
    if (scalars.length > 0) {
      if (identifier === undefined) lines.push(scalars.map(pythonString).join('\t'));
      else for (const scalar of scalars) lines.push(`${identifier.toUpperCase()}\t${pythonString(scalar)}`);
    }
    for (const nested of items.filter(isComposite)) visit(nested, identifier);
  };
  const visitObject = (item: PrintableObject, identifier?: string, scalarKeys?: string[]): void => {
    const scalarKeyList = scalarKeys ?? sortKeys(Object.keys(item).filter((key) => !isComposite(item[key]!)));
    const nestedKeys = scalarKeys === undefined ? sortKeys(Object.keys(item).filter((key) => isComposite(item[key]!))) : sortKeys(Object.keys(item).filter((key) => !scalarKeys.includes(key)));
    const scalars = scalarKeyList.map((key) => (item[key] === undefined ? '' : pythonString(item[key])));
    if (scalars.length > 0) lines.push([...(identifier === undefined ? [] : [identifier.toUpperCase()]), ...scalars].join('\t'));
    for (const key of nestedKeys) visit(item[key]!, key);
  };
  visit(value);
  return lines.map((line) => `${line}\n`).join('');
}
