/**
 * The shapes of an API's input and output, as the AWS CLI uses them: to type what shorthand leaves untyped (a
 * lone value where a list goes becomes a one-item list, `10` becomes a number where a double goes, `true` a
 * boolean), to check JSON input the way botocore's parameter validation does (unknown keys and wrong types are
 * refused, naming the field), to print skeletons, and to print answers in the model's member order.
 */
import { DiskError } from '../errors.js';
import type { ShorthandValue } from './shorthand.js';

export type Shape =
  | { type: 'string'; enum?: readonly string[] }
  | { type: 'boolean' }
  | { type: 'integer' }
  | { type: 'double' }
  | { type: 'timestamp' }
  | { type: 'structure'; members: Readonly<Record<string, Shape>> }
  | { type: 'list'; member: Shape }
  | { type: 'map'; value: Shape };

export type StructureShape = Extract<Shape, { type: 'structure' }>;

/** Plain JSON values in the API's own member names. */
export type JsonValue = string | number | boolean | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const text = (values?: readonly string[]): Shape => (values === undefined ? { type: 'string' } : { type: 'string', enum: values });
export const flag: Shape = { type: 'boolean' };
export const double: Shape = { type: 'double' };
export const timestamp: Shape = { type: 'timestamp' };
export const structure = (members: Record<string, Shape>): StructureShape => ({ type: 'structure', members });
export const list = (member: Shape): Shape => ({ type: 'list', member });
export const map = (value: Shape): Shape => ({ type: 'map', value });

/** Types a shorthand value by its shape, then checks it as JSON input is checked. `path` names it in errors. */
export function typeShorthand(value: ShorthandValue, shape: Shape, path: string): JsonValue {
  return checkValue(coerce(value, shape, path), shape, path);
}

function coerce(value: ShorthandValue, shape: Shape, path: string): JsonValue {
  switch (shape.type) {
    case 'list': {
      const items = Array.isArray(value) ? value : [value];
      return items.map((item, index) => coerce(item, shape.member, `${path}[${index}]`));
    }
    case 'structure':
      if (typeof value !== 'object' || Array.isArray(value)) return value as JsonValue;
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, shape.members[key] === undefined ? item : coerce(item, shape.members[key], `${path}.${key}`)]));
    case 'map':
      if (typeof value !== 'object' || Array.isArray(value)) return value as JsonValue;
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, coerce(item, shape.value, `${path}.${key}`)]));
    case 'integer':
    case 'double':
      return typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : (value as JsonValue);
    case 'boolean':
      // Only "true" and "false" (any case) become booleans, as in the CLI; anything else is then refused.
      return typeof value === 'string' && /^(true|false)$/i.test(value) ? value.toLowerCase() === 'true' : (value as JsonValue);
    default:
      return value as JsonValue;
  }
}

/** Checks a JSON value against its shape (botocore's rules): returns it, or throws USAGE naming the field. */
export function checkValue(value: unknown, shape: Shape, path: string): JsonValue {
  const fail = (expected: string) =>
    new DiskError('USAGE', `${path}: expected ${expected}, not ${describe(value)}`, { field: path });
  switch (shape.type) {
    case 'string':
      if (typeof value !== 'string') throw fail('a string');
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('true or false');
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw fail('a whole number');
      return value;
    case 'double':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw fail('a number');
      return value;
    case 'timestamp':
      parseTimestamp(value, path);
      return value as JsonValue;
    case 'list':
      if (!Array.isArray(value)) throw fail('a list');
      return value.map((item, index) => checkValue(item, shape.member, `${path}[${index}]`));
    case 'map':
      if (!isObject(value)) throw fail('an object');
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, checkValue(item, shape.value, `${path}.${key}`)]));
    case 'structure':
      return checkStructure(value, shape, path, fail);
  }
}

function checkStructure(value: unknown, shape: StructureShape, path: string, fail: (expected: string) => DiskError): JsonObject {
  if (!isObject(value)) throw fail('a structure');
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    const member = shape.members[key];
    const field = path === '' ? key : `${path}.${key}`;
    if (member === undefined) {
      throw new DiskError('USAGE', `${path === '' ? 'the input' : path}: unknown parameter "${key}", must be one of: ${Object.keys(shape.members).join(', ')}`, { field });
    }
    result[key] = checkValue(item, member, field);
  }
  return result;
}

/**
 * A timestamp as the CLI takes it: seconds since the epoch (a number or numeric text) or ISO 8601; a date and time
 * without a zone is UTC, as botocore reads it.
 */
export function parseTimestamp(value: unknown, path: string): Date {
  const fail = () => new DiskError('USAGE', `${path}: expected a timestamp (ISO 8601 such as 2024-05-01T12:00:00Z, or seconds since 1970), not ${describe(value)}`, { field: path });
  if (typeof value === 'number') return checkedDate(new Date(value * 1000), fail);
  if (typeof value !== 'string') throw fail();
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return checkedDate(new Date(Number(text) * 1000), fail);
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(text)) throw fail();
  const zoned = /[T ]\d{2}:\d{2}/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? `${text}Z` : text;
  return checkedDate(new Date(zoned.replace(' ', 'T')), fail);
}

function checkedDate(date: Date, fail: () => DiskError): Date {
  if (Number.isNaN(date.getTime())) throw fail();
  return date;
}

/** The value as the SDK takes it: timestamps become Dates, everything else stays. */
export function toSdkValue(value: JsonValue, shape: Shape, path: string): unknown {
  switch (shape.type) {
    case 'timestamp':
      return parseTimestamp(value, path);
    case 'list':
      return (value as JsonValue[]).map((item, index) => toSdkValue(item, shape.member, `${path}[${index}]`));
    case 'map':
      return Object.fromEntries(Object.entries(value as JsonObject).map(([key, item]) => [key, toSdkValue(item, shape.value, `${path}.${key}`)]));
    case 'structure':
      return Object.fromEntries(
        Object.entries(value as JsonObject).map(([key, item]) => [key, toSdkValue(item, shape.members[key]!, path === '' ? key : `${path}.${key}`)]),
      );
    default:
      return value;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a structure';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
