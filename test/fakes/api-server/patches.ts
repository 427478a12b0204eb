// The four PATCH content types a real API server accepts.
// - application/merge-patch+json: RFC 7386, exact.
// - application/json-patch+json: RFC 6902 (add, remove, replace, move, copy, test), exact.
// - application/strategic-merge-patch+json: an APPROXIMATION. Maps merge as in a merge patch
//   (null deletes); lists are replaced, except lists with a well-known merge key in core types
//   (containers/env/volumes/... by name, conditions by type, ports by port or containerPort,
//   volumeMounts by mountPath, ownerReferences by uid) which merge element-wise, and
//   metadata.finalizers which merges as a set. Directives: `$patch: delete|replace` are honoured,
//   `$setElementOrder/*`, `$retainKeys` and `$deleteFromPrimitiveList/*` are dropped.
// - application/apply-patch+yaml (server-side apply): create-or-merge with the strategic rules
//   above. Field ownership is not tracked: a field removed from an applied manifest is NOT removed
//   from the object, and there are never apply conflicts (`force` is accepted and ignored).

import { ApiStatusError } from './status-error.js';
import { canonicalJson, isRecord, jsonClone } from './types.js';

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const base = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  switch (base) {
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/json-patch+json':
      return 'json';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+cbor':
      return 'apply';
    default:
      return undefined;
  }
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return patch;
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function patchError(message: string): ApiStatusError {
  return new ApiStatusError(422, 'Invalid', message);
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw patchError(`json patch: invalid pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function childOf(container: unknown, token: string): unknown {
  if (Array.isArray(container)) return container[Number(token)];
  if (isRecord(container)) return container[token];
  return undefined;
}

function parentAndToken(doc: unknown, pointer: string): { parent: unknown; token: string } {
  const tokens = parsePointer(pointer);
  const token = tokens.pop();
  if (token === undefined) throw patchError(`json patch: cannot operate on the root "${pointer}"`);
  let parent = doc;
  for (const t of tokens) {
    parent = childOf(parent, t);
    if (parent === undefined) throw patchError(`json patch: path "${pointer}" does not exist`);
  }
  return { parent, token };
}

function getAt(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const t of parsePointer(pointer)) {
    cur = childOf(cur, t);
    if (cur === undefined) throw patchError(`json patch: path "${pointer}" does not exist`);
  }
  return cur;
}

function addAt(doc: unknown, pointer: string, value: unknown): unknown {
  if (pointer === '') return value;
  const { parent, token } = parentAndToken(doc, pointer);
  if (Array.isArray(parent)) {
    const idx = token === '-' ? parent.length : Number(token);
    if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) throw patchError(`json patch: index out of range in "${pointer}"`);
    parent.splice(idx, 0, value);
  } else if (isRecord(parent)) {
    parent[token] = value;
  } else {
    throw patchError(`json patch: parent of "${pointer}" is not a container`);
  }
  return doc;
}

function removeAt(doc: unknown, pointer: string): unknown {
  const { parent, token } = parentAndToken(doc, pointer);
  if (Array.isArray(parent)) {
    const idx = Number(token);
    if (!Number.isInteger(idx) || idx < 0 || idx >= parent.length) throw patchError(`json patch: index out of range in "${pointer}"`);
    parent.splice(idx, 1);
  } else if (isRecord(parent) && Object.prototype.hasOwnProperty.call(parent, token)) {
    delete parent[token];
  } else {
    throw patchError(`json patch: path "${pointer}" does not exist`);
  }
  return doc;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw patchError('json patch: body must be an array of operations');
  let doc: unknown = jsonClone(target);
  for (const raw of ops) {
    if (!isRecord(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw patchError('json patch: each operation needs "op" and "path"');
    }
    const path = raw.path;
    const from = typeof raw.from === 'string' ? raw.from : undefined;
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, path, jsonClone(raw.value));
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        getAt(doc, path);
        doc = path === '' ? jsonClone(raw.value) : addAt(removeAt(doc, path), path, jsonClone(raw.value));
        break;
      case 'move': {
        if (from === undefined) throw patchError('json patch: move needs "from"');
        const v = getAt(doc, from);
        doc = addAt(removeAt(doc, from), path, v);
        break;
      }
      case 'copy': {
        if (from === undefined) throw patchError('json patch: copy needs "from"');
        doc = addAt(doc, path, jsonClone(getAt(doc, from)));
        break;
      }
      case 'test':
        if (!deepEqual(getAt(doc, path), raw.value)) throw patchError(`json patch: test failed at "${path}"`);
        break;
      default:
        throw patchError(`json patch: unknown op "${raw.op}"`);
    }
  }
  return doc;
}

/** Merge keys of the core API types the fake knows (see the header comment). */
function mergeKeyFor(field: string, sample: Record<string, unknown>): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    case 'ports':
      return 'containerPort' in sample ? 'containerPort' : 'port';
    default:
      return undefined;
  }
}

function mergeList(field: string, target: unknown, patch: unknown[]): unknown {
  if (field === 'finalizers' && Array.isArray(target)) {
    const out: unknown[] = [...(target as unknown[])];
    for (const f of patch) if (!out.includes(f)) out.push(f);
    return out;
  }
  const first = patch.find(isRecord) ?? (Array.isArray(target) ? target.find(isRecord) : undefined);
  const key = first === undefined ? undefined : mergeKeyFor(field, first);
  if (key === undefined || !Array.isArray(target) || !patch.every(isRecord)) {
    return patch.map((e) => stripDirectives(e));
  }
  const out: unknown[] = [...(target as unknown[])];
  for (const el of patch) {
    if (!isRecord(el)) continue;
    const idx = out.findIndex((t) => isRecord(t) && deepEqual(t[key], el[key]));
    if (el.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
    } else if (idx >= 0) {
      out[idx] = strategicMerge(out[idx], el);
    } else {
      out.push(stripDirectives(el));
    }
  }
  return out;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isRecord(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

export function strategicMerge(target: unknown, patch: unknown, field = ''): unknown {
  if (Array.isArray(patch)) return mergeList(field, target, patch);
  if (!isRecord(patch)) return patch;
  if (patch.$patch === 'replace') return stripDirectives(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null || (isRecord(v) && v.$patch === 'delete')) delete out[k];
    else out[k] = strategicMerge(out[k], v, k);
  }
  return out;
}
