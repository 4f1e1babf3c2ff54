/**
 * --generate-cli-skeleton: `input` (the default) prints a request with every member, which --cli-input-json takes
 * back; `yaml-input` the same as YAML for --cli-input-yaml; `output` a sample answer, printed in the --output
 * format, after the input was checked and without sending anything. The placeholders are the AWS CLI's: "" for
 * text (an enum's first value), true, 0 / 0.0, 1970-01-01T00:00:00, one item per list, a KeyName per map, and in
 * the output skeleton each text member's own name.
 */
import { stringify as stringifyYaml } from 'yaml';
import type { JsonValue, Shape } from './shape.js';

export type SkeletonKind = 'input' | 'yaml-input' | 'output';
export const SKELETON_KINDS: readonly SkeletonKind[] = ['input', 'yaml-input', 'output'];

export function skeletonOf(shape: Shape, kind: 'input' | 'output', name = ''): JsonValue {
  switch (shape.type) {
    case 'string':
      return kind === 'output' ? name : (shape.enum?.[0] ?? '');
    case 'boolean':
      return true;
    case 'integer':
    case 'double':
      return 0;
    case 'timestamp':
      return '1970-01-01T00:00:00';
    case 'list':
      return [skeletonOf(shape.member, kind, name)];
    case 'map':
      return { KeyName: skeletonOf(shape.value, kind, 'KeyName') };
    case 'structure':
      return Object.fromEntries(Object.entries(shape.members).map(([member, memberShape]) => [member, skeletonOf(memberShape, kind, member)]));
  }
}

/** The input skeleton as YAML, for --cli-input-yaml. */
export function yamlSkeleton(shape: Shape): string {
  return stringifyYaml(skeletonOf(shape, 'input'), { indentSeq: false });
}
