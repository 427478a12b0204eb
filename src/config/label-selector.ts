/**
 * Kubernetes label selectors (metav1.LabelSelector) with apimachinery's semantics: validation
 * as `metav1.LabelSelectorAsSelector` / `labels.NewRequirement` do it, and matching as
 * `labels.Selector.Matches`.
 */
import { formatFieldPath } from './field-path.js';

/** A label set: key -> value. */
export type Labels = Readonly<Record<string, string>>;

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export const SELECTOR_OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values?: readonly string[];
}

/** matchLabels and matchExpressions are ANDed; an empty selector matches everything. */
export interface LabelSelector {
  readonly matchLabels?: Labels;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

/** A selector as written, before its operators are known to be valid. */
export interface RawLabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}

/**
 * One problem found in a selector: `segments` is the field path relative to the selector
 * (["matchExpressions", "0", "operator"]), `path` the same as text ("matchExpressions[0].operator").
 */
export interface SelectorProblem {
  readonly kind: 'invalid' | 'duplicate';
  readonly segments: readonly string[];
  readonly path: string;
  readonly message: string;
}

function problem(kind: SelectorProblem['kind'], segments: string[], message: string): SelectorProblem {
  return { kind, segments, path: formatFieldPath(segments), message };
}

// k8s.io/apimachinery/pkg/util/validation: qualifiedNameFmt, dns1123SubdomainFmt, labelValueFmt.
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;
const LABEL_VALUE_MAX = 63;

const NAME_RULE =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')";

/** Why `key` is not a valid label key (apimachinery IsQualifiedName), or undefined if it is. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  let name: string;
  if (parts.length === 1) {
    name = key;
  } else if (parts.length === 2) {
    const prefix = parts[0] as string;
    name = parts[1] as string;
    if (prefix.length === 0) return `label key ${JSON.stringify(key)}: prefix part must be non-empty`;
    if (prefix.length > DNS1123_SUBDOMAIN_MAX) {
      return `label key ${JSON.stringify(key)}: prefix part must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`;
    }
    if (!DNS1123_SUBDOMAIN.test(prefix)) {
      return `label key ${JSON.stringify(key)}: prefix part must be a lowercase DNS subdomain (e.g. 'example.com')`;
    }
  } else {
    return `label key ${JSON.stringify(key)}: a qualified name ${NAME_RULE}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`;
  }
  if (name.length === 0) return `label key ${JSON.stringify(key)}: name part must be non-empty`;
  if (name.length > QUALIFIED_NAME_MAX) {
    return `label key ${JSON.stringify(key)}: name part must be no more than ${QUALIFIED_NAME_MAX} characters`;
  }
  if (!QUALIFIED_NAME.test(name)) return `label key ${JSON.stringify(key)}: name part ${NAME_RULE}`;
  return undefined;
}

/** Why `value` is not a valid label value (apimachinery IsValidLabelValue), or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > LABEL_VALUE_MAX) {
    return `label value ${JSON.stringify(value)} must be no more than ${LABEL_VALUE_MAX} characters`;
  }
  if (!LABEL_VALUE.test(value)) {
    return `label value ${JSON.stringify(value)} must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')`;
  }
  return undefined;
}

function suggestOperator(op: string): string {
  const same = SELECTOR_OPERATORS.find((o) => o.toLowerCase() === op.toLowerCase().replace(/[\s_-]/g, ''));
  return same ? `write "${same}" (operators are case-sensitive)` : `use one of ${SELECTOR_OPERATORS.join(', ')}`;
}

function requirementKey(r: { key: string; operator: string; values?: readonly string[] }): string {
  return JSON.stringify([r.key, r.operator, [...(r.values ?? [])].sort()]);
}

/**
 * Every problem in one selector: invalid keys, values and operators (as apimachinery rejects
 * them), and the duplicates MetalLB rejects (validateLabelSelectorMatchExpressions: the same
 * value twice in one expression, the same expression twice).
 */
export function validateLabelSelector(selector: RawLabelSelector): SelectorProblem[] {
  const problems: SelectorProblem[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    const kp = labelKeyProblem(key);
    if (kp) problems.push(problem('invalid', ['matchLabels', key], kp));
    const vp = labelValueProblem(value);
    if (vp) problems.push(problem('invalid', ['matchLabels', key], vp));
  }
  const seen = new Map<string, number>();
  (selector.matchExpressions ?? []).forEach((expr, i) => {
    const base = ['matchExpressions', String(i)];
    const kp = labelKeyProblem(expr.key);
    if (kp) problems.push(problem('invalid', [...base, 'key'], kp));
    const values = expr.values ?? [];
    if (!(SELECTOR_OPERATORS as readonly string[]).includes(expr.operator)) {
      problems.push(
        problem(
          'invalid',
          [...base, 'operator'],
          `${JSON.stringify(expr.operator)} is not a valid label selector operator: ${suggestOperator(expr.operator)}`,
        ),
      );
    } else if ((expr.operator === 'In' || expr.operator === 'NotIn') && values.length === 0) {
      problems.push(
        problem(
          'invalid',
          [...base, 'values'],
          `operator ${expr.operator} needs at least one value (use Exists or DoesNotExist to test the key alone)`,
        ),
      );
    } else if ((expr.operator === 'Exists' || expr.operator === 'DoesNotExist') && values.length > 0) {
      problems.push(
        problem('invalid', [...base, 'values'], `operator ${expr.operator} takes no values: remove "values" or use In / NotIn`),
      );
    }
    const seenValues = new Map<string, number>();
    values.forEach((v, j) => {
      const vp = labelValueProblem(v);
      if (vp) problems.push(problem('invalid', [...base, 'values', String(j)], vp));
      const first = seenValues.get(v);
      if (first !== undefined) {
        problems.push(
          problem('duplicate', [...base, 'values', String(j)], `duplicate value ${JSON.stringify(v)} (already values[${first}]): remove one`),
        );
      } else {
        seenValues.set(v, j);
      }
    });
    const rk = requirementKey(expr);
    const first = seen.get(rk);
    if (first !== undefined) {
      problems.push(problem('duplicate', base, `duplicate expression (same as matchExpressions[${first}]): remove one`));
    } else {
      seen.set(rk, i);
    }
  });
  return problems;
}

/**
 * A canonical text for duplicate detection: two selectors with the same matchLabels and the
 * same matchExpressions in the same order (values in any order) are equal, as MetalLB's
 * comparison of LabelSelector.String() after sorting values.
 */
export function selectorIdentity(selector: RawLabelSelector): string {
  const labels = Object.entries(selector.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([labels, (selector.matchExpressions ?? []).map(requirementKey)]);
}

/** True when `labels` satisfies every requirement of `selector` (labels.Selector.Matches). */
export function matchesSelector(labels: Labels | undefined, selector: LabelSelector): boolean {
  const set = labels ?? {};
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(set, k);
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(key) || set[key] !== value) return false;
  }
  for (const expr of selector.matchExpressions ?? []) {
    const present = has(expr.key);
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
        if (!present || !values.includes(set[expr.key] as string)) return false;
        break;
      case 'NotIn':
        if (present && values.includes(set[expr.key] as string)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
    }
  }
  return true;
}

/** True when `labels` matches at least one of `selectors` (an empty list matches nothing). */
export function matchesAnySelector(labels: Labels | undefined, selectors: readonly LabelSelector[]): boolean {
  return selectors.some((s) => matchesSelector(labels, s));
}

/**
 * The selector in kubectl's syntax ("team=red,tier in (a,b),!legacy"), requirements sorted by
 * key as labels.Selector.String() does; "" for the match-everything selector.
 */
export function formatSelector(selector: LabelSelector): string {
  const parts: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) parts.push({ key, text: `${key}=${value}` });
  for (const e of selector.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    const text =
      e.operator === 'In'
        ? `${e.key} in (${values})`
        : e.operator === 'NotIn'
          ? `${e.key} notin (${values})`
          : e.operator === 'Exists'
            ? e.key
            : `!${e.key}`;
    parts.push({ key: e.key, text });
  }
  parts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return parts.map((p) => p.text).join(',');
}

/** `labels.Set(labels).String()`: "k=v,k2=v2" sorted by key ("" when empty). */
export function formatLabels(labels: Labels | undefined): string {
  return Object.keys(labels ?? {})
    .sort()
    .map((k) => `${k}=${(labels as Labels)[k]}`)
    .join(',');
}
