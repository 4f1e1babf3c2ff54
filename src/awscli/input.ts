/**
 * --cli-input-json and --cli-input-yaml: a whole request (the shape --generate-cli-skeleton prints), inline or as
 * file://, merged under the explicit options the way the AWS CLI merges it: an option given on the command line
 * replaces that top-level member whole; members are never merged deeper.
 */
import { parse as parseYaml } from 'yaml';
import { DiskError } from '../errors.js';
import { parseJson } from './arguments.js';
import { resolveParamFile } from './paramfile.js';
import { checkValue, isObject, type JsonObject, type StructureShape } from './shape.js';

export interface CliInputOptions {
  cliInputJson?: string;
  cliInputYaml?: string;
}

/** The members the input document gives (checked against the input shape), or {} without one. */
export async function loadCliInput(options: CliInputOptions, shape: StructureShape): Promise<JsonObject> {
  if (options.cliInputJson !== undefined && options.cliInputYaml !== undefined) {
    throw new DiskError('USAGE', '--cli-input-json and --cli-input-yaml cannot be given together', { field: '--cli-input-json' });
  }
  const document =
    options.cliInputJson !== undefined ? parseJson(await resolveParamFile(options.cliInputJson, '--cli-input-json'), '--cli-input-json')
    : options.cliInputYaml !== undefined ? yamlDocument(await resolveParamFile(options.cliInputYaml, '--cli-input-yaml'))
    : undefined;
  if (document === undefined) return {};
  const option = options.cliInputJson !== undefined ? '--cli-input-json' : '--cli-input-yaml';
  if (!isObject(document)) throw new DiskError('USAGE', `${option}: the input must be an object of request members`, { field: option });
  return checkValue(document, shape, '') as JsonObject;
}

/** YAML 1.2 core schema: timestamps stay text (checked as timestamps later), no custom tags. */
function yamlDocument(text: string): unknown {
  try {
    return parseYaml(text, { schema: 'core', merge: false, maxAliasCount: 0 });
  } catch (error) {
    throw new DiskError('USAGE', `--cli-input-yaml: invalid YAML (${(error as Error).message.split('\n')[0]})`, { field: '--cli-input-yaml', cause: error });
  }
}

/** Explicit options win over the input document, member by member. */
export function mergeInput(document: JsonObject, explicit: JsonObject): JsonObject {
  return { ...document, ...explicit };
}

/** The members the shape marks required and the input lacks, as botocore's validation refuses them. */
export function checkRequired(input: JsonObject, required: readonly string[]): void {
  const missing = required.filter((member) => input[member] === undefined);
  if (missing.length > 0) {
    throw new DiskError('USAGE', `missing required parameter${missing.length > 1 ? 's' : ''}: ${missing.map((member) => `${member} (${cliName(member)})`).join(', ')}`, { field: missing[0]! });
  }
}

/** The CLI option for an API member: DiskContainers -> --disk-containers, vmImportTaskId -> --vm-import-task-id. */
export function cliName(member: string): string {
  return `--${member.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/([A-Z])([A-Z][a-z])/g, '$1-$2').toLowerCase()}`;
}
