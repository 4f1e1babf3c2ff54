/**
 * One AWS CLI argument's text (or texts: a list argument takes several, space-separated) into its JSON value, as
 * the CLI decides: a `file://` value is replaced by the file's contents; a structure or map is JSON when it starts
 * with `{`, shorthand otherwise; a list of structures is one JSON list when its only text starts with `[`, one JSON
 * object per text when they start with `{`, one shorthand structure per text otherwise.
 */
import { DiskError } from '../errors.js';
import { isParamFile, resolveParamFile } from './paramfile.js';
import { checkValue, typeShorthand, type JsonValue, type Shape } from './shape.js';
import { parseShorthand } from './shorthand.js';

/** `option` is the CLI name (`--disk-containers`), `member` the API member it fills (`DiskContainers`). */
export async function argumentValue(raw: string | string[], shape: Shape, option: string, member: string): Promise<JsonValue> {
  const texts = await loadTexts(Array.isArray(raw) ? raw : [raw], option);
  if (shape.type === 'list' && isComplex(shape.member)) return listValue(texts, shape, option, member);
  const text = texts.join(' ');
  if (shape.type === 'structure' || shape.type === 'map') {
    if (text.trimStart().startsWith('{')) return checkValue(parseJson(text, option), shape, member);
    return typeShorthand(await parseShorthand(text, option), shape, member);
  }
  return typeShorthand(text, shape, member);
}

/** A lone `file://` text is replaced by the file's contents (several texts are taken as written, as the CLI does). */
async function loadTexts(texts: string[], option: string): Promise<string[]> {
  if (texts.length === 1 && isParamFile(texts[0]!)) return [await resolveParamFile(texts[0]!, option)];
  return texts;
}

async function listValue(texts: string[], shape: Extract<Shape, { type: 'list' }>, option: string, member: string): Promise<JsonValue> {
  const first = texts[0]?.trimStart() ?? '';
  if (texts.length === 1 && first.startsWith('[')) return checkValue(parseJson(texts[0]!, option), shape, member);
  if (first.startsWith('[') || first.startsWith('{')) {
    return checkValue(texts.map((text) => parseJson(text, option)), shape, member);
  }
  const items = await Promise.all(texts.map((text) => parseShorthand(text, option)));
  return typeShorthand(items, shape, member);
}

function isComplex(shape: Shape): boolean {
  return shape.type === 'structure' || shape.type === 'list' || shape.type === 'map';
}

export function parseJson(text: string, option: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
    throw new DiskError('USAGE', `${option}: invalid JSON (${(error as Error).message}): ${shown}`, { field: option, cause: error });
  }
}
