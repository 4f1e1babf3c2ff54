/**
 * The AWS CLI's shorthand syntax, parsed the way the CLI parses it (its documented grammar, checked against
 * aws-cli v1 and v2):
 *
 *   parameter = keyval *("," keyval)          Key=Value,Key2=Value2
 *   keyval    = key ["@"] "=" values          Key@=file://path reads the value from a file
 *   values    = csv-list / explicit-list / hash-literal
 *   csv-list  = first-value *("," second-value)          Key=a,b,c  -> ["a", "b", "c"]
 *   explicit  = "[" [value *("," value)] "]"             Key=[a,b]  -> ["a", "b"]
 *   hash      = "{" [key "=" value *("," key "=" value)] "}"
 *
 * A comma-separated list ends where an item turns out to be the next key (`a=b,c,d=e` gives a: [b, c], d: e), a
 * one-item list is a plain value, values may be 'single' or "double" quoted (backslash escapes the quote and
 * itself), `\,` is a literal comma in an unquoted value, and trailing blanks are dropped. The result is untyped
 * (strings, lists, objects); the argument's shape then says what becomes a number, a boolean or a list.
 */
import { DiskError } from '../errors.js';
import { readParamFile } from './paramfile.js';

export type ShorthandValue = string | ShorthandValue[] | { [key: string]: ShorthandValue };
export type ShorthandObject = { [key: string]: ShorthandValue };

/** `option` names the argument in errors (`--disk-containers`). */
export async function parseShorthand(text: string, option: string): Promise<ShorthandObject> {
  const parsed = new Parser(text, option).parse();
  return resolveFiles(parsed, option) as Promise<ShorthandObject>;
}

const KEY_CHARS = /[A-Za-z0-9\-_.#/:]/;
/** Blanks between tokens, as the CLI skips them (Python's string.whitespace). */
const BLANKS = ' \t\n\r\v\f';

/** What may start an unquoted value: not a blank, a quote, `,`, `=`, `[` or `{` (and nothing beyond U+FFFF). */
function startsValue(code: number): boolean {
  return code > 0x20 && code <= 0xffff && !'"\',=[{'.includes(String.fromCharCode(code));
}
/** What may follow in a value that ends at `,`, `]` or `}` (first values, values in brackets and braces). */
function continuesFirst(code: number): boolean {
  return continuesAny(code) && !'"\',]}'.includes(String.fromCharCode(code));
}
/** What may follow in a later csv item: it ends at `,` or `=` (the `=` shows the item was really a key). */
function continuesSecond(code: number): boolean {
  return continuesAny(code) && !'"\',='.includes(String.fromCharCode(code));
}
function continuesAny(code: number): boolean {
  return (code > 0x20 || /\s/.test(String.fromCharCode(code))) && code <= 0xffff;
}

/** A value to be read from a file once parsing is done (`Key@=file://…`). */
class FileReference {
  constructor(readonly path: string) {}
}
type Parsed = string | FileReference | Parsed[] | { [key: string]: Parsed };

/** A token that is not there: inside a csv list it ends the list, anywhere else it is a syntax error. */
class Backtrack extends Error {}

class Parser {
  private index = 0;
  private fileValue = false;

  constructor(
    private readonly text: string,
    private readonly option: string,
  ) {}

  parse(): { [key: string]: Parsed } {
    try {
      return this.parameter();
    } catch (error) {
      throw this.asUsage(error);
    }
  }

  private parameter(): { [key: string]: Parsed } {
    const result: { [key: string]: Parsed } = {};
    for (;;) {
      const keyStart = this.index;
      const [key, value] = this.keyValue();
      if (Object.hasOwn(result, key)) {
        throw this.error(`the key "${key}" appears twice at column ${keyStart + 1} (several structures are separated by spaces, not commas)`);
      }
      result[key] = value;
      if (this.atEnd()) return result;
      this.expect(',', true);
    }
  }

  private keyValue(): [string, Parsed] {
    const key = this.key();
    this.skipBlanks();
    this.fileValue = this.peek() === '@';
    if (this.fileValue) this.index++;
    this.expect('=', true);
    return [key, this.values()];
  }

  private key(): string {
    const start = this.index;
    while (!this.atEnd() && KEY_CHARS.test(this.peek()!)) this.index++;
    return this.text.slice(start, this.index);
  }

  private values(): Parsed {
    if (this.atEnd()) return '';
    if (this.peek() === '[') return this.explicitList();
    if (this.peek() === '{') return this.hash();
    return this.csvValue();
  }

  /** `a` or `a,b,c`: the list stops before an item followed by `=` (the next key), one item is a plain value. */
  private csvValue(): Parsed {
    const first = this.firstValue();
    this.skipBlanks();
    if (this.atEnd() || this.peek() !== ',') return first;
    this.expect(',', true);
    const items: Parsed[] = [first];
    for (;;) {
      const itemStart = this.index;
      let item: Parsed;
      try {
        item = this.secondValue();
        this.skipBlanks();
        if (this.atEnd()) {
          items.push(item);
          break;
        }
        this.expect(',', true);
      } catch (error) {
        if (!(error instanceof Backtrack) || this.atEnd()) throw this.asUsage(error);
        this.index = this.text.lastIndexOf(',', Math.max(itemStart - 1, 0));
        break;
      }
      items.push(item);
    }
    return items.length === 1 ? first : items;
  }

  private explicitList(): Parsed[] {
    this.expect('[', true);
    const items: Parsed[] = [];
    while (this.peek() !== ']') {
      items.push(this.nestedValue());
      this.skipBlanks();
      if (this.peek() !== ']') {
        this.expect(',');
        this.skipBlanks();
      }
    }
    this.expect(']');
    return items;
  }

  private hash(): { [key: string]: Parsed } {
    this.expect('{', true);
    const result: { [key: string]: Parsed } = {};
    while (this.peek() !== '}') {
      const key = this.key();
      this.skipBlanks();
      this.fileValue = this.peek() === '@';
      if (this.fileValue) this.index++;
      this.expect('=', true);
      result[key] = this.nestedValue();
      this.skipBlanks();
      if (this.peek() !== '}') {
        this.expect(',');
        this.skipBlanks();
      }
    }
    this.expect('}');
    return result;
  }

  /** Inside brackets and braces a value is a list, a hash or a single value (never a bare csv list). */
  private nestedValue(): Parsed {
    if (this.peek() === '[') return this.explicitList();
    if (this.peek() === '{') return this.hash();
    return this.firstValue();
  }

  private firstValue(): Parsed {
    const quoted = this.quoted();
    if (quoted !== undefined) return quoted;
    return this.maybeFile(this.unquoted(continuesFirst, false));
  }

  private secondValue(): Parsed {
    const quoted = this.quoted();
    if (quoted !== undefined) return quoted;
    return this.maybeFile(this.unquoted(continuesSecond, true));
  }

  /** An unquoted value: `\,` is a comma; trailing blanks are dropped. Empty when nothing may start one. */
  private unquoted(continues: (code: number) => boolean, required: boolean): string {
    const start = this.index;
    let value = '';
    let first = true;
    while (!this.atEnd()) {
      if (this.text.startsWith('\\,', this.index)) {
        value += ',';
        this.index += 2;
      } else {
        const code = this.text.codePointAt(this.index)!;
        if (!(first ? startsValue(code) : continues(code))) break;
        value += String.fromCodePoint(code);
        this.index += code > 0xffff ? 2 : 1;
      }
      first = false;
    }
    if (required && this.index === start) throw new Backtrack(`a value at column ${start + 1}`);
    return value.trimEnd();
  }

  /** 'single' or "double" quoted, or undefined when the next character is no quote. */
  private quoted(): Parsed | undefined {
    const quote = this.peek();
    if (quote !== "'" && quote !== '"') return undefined;
    const start = this.index;
    let end = start + 1;
    while (end < this.text.length && this.text[end] !== quote) end += this.text[end] === '\\' && this.text[end + 1] === quote ? 2 : 1;
    if (end >= this.text.length) throw this.error(`the quote at column ${start + 1} is never closed`);
    this.index = end + 1;
    const inner = this.text.slice(start + 1, end).replaceAll(`\\${quote}`, quote).replaceAll('\\\\', '\\');
    return this.maybeFile(inner);
  }

  private maybeFile(value: string): Parsed {
    return this.fileValue && /^fileb?:\/\//.test(value) ? new FileReference(value) : value;
  }

  private expect(char: string, skipBlanks = false): void {
    if (skipBlanks) this.skipBlanks();
    const actual = this.atEnd() ? 'the end' : `"${this.peek()}"`;
    if (this.peek() !== char) throw new Backtrack(`expected "${char}" at column ${this.index + 1}, found ${actual}`);
    this.index++;
    if (skipBlanks) this.skipBlanks();
  }

  private skipBlanks(): void {
    while (!this.atEnd() && BLANKS.includes(this.peek()!)) this.index++;
  }

  private peek(): string | undefined {
    return this.text[this.index];
  }

  private atEnd(): boolean {
    return this.index >= this.text.length;
  }

  private error(what: string): DiskError {
    return new DiskError('USAGE', `${this.option}: shorthand syntax: ${what} in ${JSON.stringify(this.text)}`, { field: this.option });
  }

  private asUsage(error: unknown): unknown {
    return error instanceof Backtrack ? this.error(error.message) : error;
  }
}

async function resolveFiles(value: Parsed, option: string): Promise<ShorthandValue> {
  if (value instanceof FileReference) return readParamFile(value.path, option);
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return Promise.all(value.map((item) => resolveFiles(item, option)));
  const entries = await Promise.all(Object.entries(value).map(async ([key, item]) => [key, await resolveFiles(item, option)] as const));
  return Object.fromEntries(entries);
}
