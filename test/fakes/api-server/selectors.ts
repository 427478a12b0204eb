// Label and field selectors with the apimachinery grammar.
// Labels: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`.
// Fields: `path=value`, `path==value`, `path!=value` on any dotted path (a real server allows only
// a per-kind list such as metadata.name, metadata.namespace, spec.nodeName, involvedObject.name;
// the fake accepts every path, so it cannot catch an unsupported field).

import { badRequest } from './status-error.js';
import { isRecord, type KubeObject } from './types.js';

export type Predicate = (obj: KubeObject) => boolean;

type LabelRequirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

/** Split on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseLabelRequirement(term: string): LabelRequirement {
  const set = /^([^\s!=(]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (set !== null) {
    const [, key = '', op = 'in', list = ''] = set;
    const values = list.split(',').map((v) => v.trim()).filter((v) => v !== '');
    return { op: op === 'in' ? 'in' : 'notin', key, values };
  }
  const cmp = /^([^\s!=]+)\s*(==|!=|=)\s*([^\s]*)$/.exec(term);
  if (cmp !== null) {
    const [, key = '', op = '=', value = ''] = cmp;
    return { op: op === '!=' ? 'neq' : 'eq', key, value };
  }
  const not = /^!\s*([^\s!=]+)$/.exec(term);
  if (not !== null) return { op: 'notexists', key: not[1] ?? '' };
  if (/^[^\s!=(),]+$/.test(term)) return { op: 'exists', key: term };
  throw badRequest(`unable to parse requirement: found '${term}', expected: identifier`);
}

function labelMatches(req: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, req.key);
  const v = labels[req.key];
  switch (req.op) {
    case 'eq':
      return has && v === req.value;
    case 'neq':
      return !has || v !== req.value;
    case 'in':
      return has && v !== undefined && req.values.includes(v);
    case 'notin':
      return !has || v === undefined || !req.values.includes(v);
    case 'exists':
      return has;
    case 'notexists':
      return !has;
  }
}

export function parseLabelSelector(selector: string | null | undefined): Predicate {
  if (selector === null || selector === undefined || selector.trim() === '') return () => true;
  const reqs = splitTopLevel(selector).map(parseLabelRequirement);
  return (obj) => {
    const labels = obj.metadata?.labels ?? {};
    return reqs.every((r) => labelMatches(r, labels));
  };
}

/** The value at a dotted path as a field selector sees it (scalars as strings, absent as ""). */
export function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (!isRecord(cur)) return '';
    cur = cur[part];
  }
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
  return '';
}

export function parseFieldSelector(selector: string | null | undefined): Predicate {
  if (selector === null || selector === undefined || selector.trim() === '') return () => true;
  const reqs = splitTopLevel(selector).map((term) => {
    const m = /^([A-Za-z0-9_.\-/]+)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (m === null) throw badRequest(`invalid field selector: '${term}'`);
    const [, path = '', op = '=', value = ''] = m;
    return { path, neq: op === '!=', value: value.trim() };
  });
  return (obj) => reqs.every((r) => (fieldValue(obj, r.path) === r.value) !== r.neq);
}
