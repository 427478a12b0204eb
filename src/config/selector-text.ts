/**
 * Label selectors written as text, as `kubectl -l` and `--peer-selector` take them
 * (k8s.io/apimachinery/pkg/labels Parse): comma-separated requirements `key`, `!key`,
 * `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`; spaces allowed
 * around tokens; "" selects everything. The set-based `>`/`<` operators have no
 * metav1.LabelSelector form and are refused.
 */
import { labelKeyProblem, labelValueProblem, type LabelSelector, type LabelSelectorRequirement } from './label-selector.js';

export type SelectorTextParse = { readonly ok: true; readonly selector: LabelSelector } | { readonly ok: false; readonly message: string };

// A key or value token: anything up to a delimiter (validated afterwards with the label rules).
const WORD = /^[^\s,=!()<>]+/;

export function parseSelectorText(text: string): SelectorTextParse {
  const fail = (message: string): SelectorTextParse => ({ ok: false, message: `label selector ${JSON.stringify(text)}: ${message}` });
  const reqs: LabelSelectorRequirement[] = [];
  let rest = text.trim();
  if (rest === '') return { ok: true, selector: {} };
  const skipSpace = (): void => {
    rest = rest.replace(/^\s+/, '');
  };
  const word = (): string | undefined => {
    skipSpace();
    const m = WORD.exec(rest);
    if (m === null) return undefined;
    rest = rest.slice(m[0].length);
    return m[0];
  };
  for (;;) {
    skipSpace();
    const negated = rest.startsWith('!');
    if (negated) rest = rest.slice(1);
    const key = word();
    if (key === undefined) return fail(`expected a label key at ${JSON.stringify(rest)}`);
    const kp = labelKeyProblem(key);
    if (kp !== undefined) return fail(kp);
    skipSpace();
    if (negated) {
      reqs.push({ key, operator: 'DoesNotExist' });
    } else if (rest === '' || rest.startsWith(',')) {
      reqs.push({ key, operator: 'Exists' });
    } else {
      const op = /^(==|=|!=|in\b|notin\b|<|>)/.exec(rest)?.[0];
      if (op === undefined) return fail(`expected =, ==, !=, in or notin after ${JSON.stringify(key)}`);
      if (op === '<' || op === '>') return fail(`operator ${op} has no label selector form: use in, notin, = or !=`);
      rest = rest.slice(op.length);
      if (op === 'in' || op === 'notin') {
        skipSpace();
        if (!rest.startsWith('(')) return fail(`expected "(" after ${op}`);
        const close = rest.indexOf(')');
        if (close < 0) return fail('missing ")"');
        const values = rest
          .slice(1, close)
          .split(',')
          .map((v) => v.trim());
        rest = rest.slice(close + 1);
        if (values.length === 1 && values[0] === '') return fail(`operator ${op} needs at least one value`);
        for (const v of values) {
          const vp = labelValueProblem(v);
          if (vp !== undefined) return fail(vp);
        }
        reqs.push({ key, operator: op === 'in' ? 'In' : 'NotIn', values: [...new Set(values)] });
      } else {
        skipSpace();
        const value = WORD.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
        const vp = labelValueProblem(value);
        if (vp !== undefined) return fail(vp);
        reqs.push({ key, operator: op === '!=' ? 'NotIn' : 'In', values: [value] });
      }
    }
    skipSpace();
    if (rest === '') break;
    if (!rest.startsWith(',')) return fail(`expected "," at ${JSON.stringify(rest)}`);
    rest = rest.slice(1);
  }
  return { ok: true, selector: { matchExpressions: reqs } };
}
