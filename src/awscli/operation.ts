/**
 * One AWS-CLI-style operation from its options to its printed answer, the same way for every command: the
 * skeletons, --cli-input-json / --cli-input-yaml under the explicit options, each option's text typed by its
 * shape (JSON, shorthand, file://), the required members, the operation's own rules, then the call, and the
 * answer in the --output format. Nothing is sent before every check has passed.
 */
import type { AwsClientOptions } from '../aws/config.js';
import { DiskError } from '../errors.js';
import { argumentValue } from './arguments.js';
import { checkRequired, cliName, loadCliInput, mergeInput, type CliInputOptions } from './input.js';
import { formatOutput, outputFormatOf, printable, type OutputFormat } from './output.js';
import { checkValue, toSdkValue, type JsonObject, type StructureShape } from './shape.js';
import { SKELETON_KINDS, skeletonOf, yamlSkeleton, type SkeletonKind } from './skeleton.js';

/** Where and as whom to call: the AWS CLI's global options. */
export type ClientOptions = AwsClientOptions;

export interface OperationSpec {
  /** The API operation's name (ImportImage): the table's title, and what errors name. */
  name: string;
  input: StructureShape;
  output: StructureShape;
  /** Members botocore's validation requires (an idempotency token the SDK fills in is not one). */
  required: readonly string[];
  /** The rules beyond the shapes; throws a DiskError naming the field. */
  validate(input: Record<string, unknown>): void;
  /** Sends the SDK input; resolves to the SDK's answer, or rejects with a DiskError. */
  send(input: Record<string, unknown>, client: ClientOptions): Promise<unknown>;
}

/** The options commander parsed: the globals, and one entry per API member (camelCase of its CLI name). */
export interface OperationOptions extends CliInputOptions, ClientOptions {
  generateCliSkeleton?: string | true;
  output?: string;
  [option: string]: unknown;
}

export interface OperationResult {
  /** What went to stdout. */
  printed: string;
  /** The SDK input sent (undefined for skeletons). */
  sent?: Record<string, unknown>;
}

export async function runOperation(spec: OperationSpec, options: OperationOptions, write = (text: string) => void process.stdout.write(text)): Promise<OperationResult> {
  const format = outputFormatOf(options.output);
  const skeleton = skeletonKind(options.generateCliSkeleton);
  if (skeleton === 'input' || skeleton === 'yaml-input') {
    const printed = skeleton === 'input' ? formatOutput(printable(skeletonOf(spec.input, 'input'), spec.input)!, 'json', spec.name) : yamlSkeleton(spec.input);
    write(printed);
    return { printed };
  }
  const input = await requestOf(spec, options);
  if (skeleton === 'output') return print(spec, skeletonOf(spec.output, 'output'), format, write);
  const sdkInput = toSdkValue(input, spec.input, '') as Record<string, unknown>;
  spec.validate(sdkInput);
  const answer = await spec.send(sdkInput, clientOptionsOf(options));
  return { ...print(spec, answer, format, write), sent: sdkInput };
}

/** The request: the input document, the explicit options over it, checked against the shape and the required members. */
export async function requestOf(spec: OperationSpec, options: OperationOptions): Promise<JsonObject> {
  const document = await loadCliInput(options, spec.input);
  const explicit: JsonObject = {};
  for (const [member, shape] of Object.entries(spec.input.members)) {
    const raw = options[optionKey(member)];
    if (raw === undefined) continue;
    explicit[member] = shape.type === 'boolean' ? checkValue(raw, shape, member) : await argumentValue(raw as string | string[], shape, cliName(member), member);
  }
  const input = mergeInput(document, explicit);
  checkRequired(input, spec.required);
  return input;
}

/** Commander's key for a member's option: DiskContainers -> diskContainers (--disk-containers). */
function optionKey(member: string): string {
  return member[0]!.toLowerCase() + member.slice(1);
}

function skeletonKind(value: string | true | undefined): SkeletonKind | undefined {
  if (value === undefined) return undefined;
  if (value === true) return 'input';
  if (!(SKELETON_KINDS as readonly string[]).includes(value)) {
    throw new DiskError('USAGE', `--generate-cli-skeleton takes ${SKELETON_KINDS.join(', ')}, not ${JSON.stringify(value)}`, { field: '--generate-cli-skeleton' });
  }
  return value as SkeletonKind;
}

function clientOptionsOf(options: ClientOptions): ClientOptions {
  return {
    ...(options.endpointUrl === undefined ? {} : { endpointUrl: options.endpointUrl }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
  };
}

function print(spec: OperationSpec, answer: unknown, format: OutputFormat, write: (text: string) => void): OperationResult {
  const value = printable(answer, spec.output) ?? {};
  // The CLI prints nothing for an empty answer, except in JSON, where {} is printed.
  const empty = typeof value === 'object' && Object.keys(value).length === 0;
  const printed = empty && format !== 'json' ? '' : formatOutput(value, format, spec.name, terminalWidth());
  write(printed);
  return { printed };
}

function terminalWidth(): number {
  return process.stdout.isTTY ? process.stdout.columns : 80;
}
