/** The preflight rules, in the order their findings are reported (errors first within that order). */
import { bootRules } from './boot-rules.js';
import { formatRules } from './format-rules.js';
import { packageRules } from './package-rules.js';
import { REFUSAL_CODES } from './refusals.js';
import type { Finding, Rule, Severity, Subject } from './types.js';

export const RULES: readonly Rule[] = [...formatRules, ...packageRules, ...bootRules];

/** Every code check can report, for the README and the tests that keep it honest. */
export const RULE_CODES: readonly string[] = [...new Set([...RULES.map((rule) => rule.code), ...REFUSAL_CODES])];

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function runRules(subject: Subject): Finding[] {
  const findings = RULES.flatMap((rule) =>
    rule.test(subject).map((hit) => ({
      code: rule.code,
      severity: rule.severity,
      message: hit.message,
      fix: hit.fix,
      requirement: rule.requirement,
      ...(hit.disk === undefined ? {} : { disk: hit.disk }),
    })),
  );
  return findings.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}

export { guestFacts, requestedBootMode } from './guest.js';
export { buildImportImageRequest, type ImportImageRequest, type RequestPlacement } from './request.js';
export { refusalFinding } from './refusals.js';
export type { Finding, GuestFacts, ImportIntent, Rule, Severity, Subject } from './types.js';
