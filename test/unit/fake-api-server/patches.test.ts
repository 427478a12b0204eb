// The fake API server's patch and selector functions on their own.

import { describe, expect, it } from 'vitest';
import { jsonPatch, mergePatch, patchTypeOf, strategicMerge } from '../../fakes/api-server/patches.js';
import { parseFieldSelector, parseLabelSelector } from '../../fakes/api-server/selectors.js';
import { ApiStatusError } from '../../fakes/api-server/status-error.js';

describe('fake API server patches', () => {
  it('merge patch follows the RFC 7386 appendix A examples', () => {
    expect(mergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(mergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(mergePatch({ a: ['b'] }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(mergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(mergePatch([1, 2], { a: 'b', c: null })).toEqual({ a: 'b' });
    expect(mergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });

  it('JSON patch applies RFC 6902 operations and rejects a failed test with 422', () => {
    const doc = { a: { b: [1, 2] }, c: 'x' };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/a/b/1', value: 9 },
      { op: 'remove', path: '/a/b/0' },
      { op: 'move', from: '/c', path: '/d' },
      { op: 'copy', from: '/d', path: '/e~1f' },
      { op: 'replace', path: '/a/b/1', value: 3 },
    ]);
    expect(out).toEqual({ a: { b: [9, 3] }, d: 'x', 'e/f': 'x' });
    expect(doc).toEqual({ a: { b: [1, 2] }, c: 'x' });
    expect(() => jsonPatch(doc, [{ op: 'test', path: '/c', value: 'y' }])).toThrow(ApiStatusError);
    expect(() => jsonPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow(/does not exist/);
  });

  it('strategic merge merges known lists by key, unions finalizers, replaces other lists, drops directives', () => {
    const pod = {
      metadata: { finalizers: ['a'] },
      spec: { containers: [{ name: 'x', image: '1', env: [{ name: 'A', value: '1' }] }], tolerations: [{ key: 't' }] },
      status: { conditions: [{ type: 'Ready', status: 'False' }] },
    };
    const out = strategicMerge(pod, {
      metadata: { finalizers: ['b'] },
      spec: {
        containers: [{ name: 'x', env: [{ name: 'B', value: '2' }] }, { name: 'y', image: '2' }],
        tolerations: [{ key: 'u' }],
        '$setElementOrder/containers': [{ name: 'x' }, { name: 'y' }],
      },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(out).toEqual({
      metadata: { finalizers: ['a', 'b'] },
      spec: {
        containers: [
          { name: 'x', image: '1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
          { name: 'y', image: '2' },
        ],
        tolerations: [{ key: 'u' }],
      },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(strategicMerge({ spec: { a: 1, b: 2 } }, { spec: { $patch: 'replace', c: 3 } })).toEqual({ spec: { c: 3 } });
    expect(strategicMerge({ spec: { ports: [{ port: 80, name: 'a' }] } }, { spec: { ports: [{ port: 443 }] } })).toEqual({
      spec: { ports: [{ port: 80, name: 'a' }, { port: 443 }] },
    });
  });

  it('recognises the four patch content types', () => {
    expect(patchTypeOf('application/merge-patch+json')).toBe('merge');
    expect(patchTypeOf('application/json-patch+json; charset=utf-8')).toBe('json');
    expect(patchTypeOf('application/strategic-merge-patch+json')).toBe('strategic');
    expect(patchTypeOf('application/apply-patch+yaml')).toBe('apply');
    expect(patchTypeOf('application/json')).toBeUndefined();
  });
});

describe('fake API server selectors', () => {
  const obj = { metadata: { name: 'n', namespace: 'ns', labels: { app: 'web', 'l2vip.io/x': '' } }, spec: { nodeName: 'a', port: 80 } };

  it('parses label selectors with set-based terms and commas inside parentheses', () => {
    expect(parseLabelSelector('app in (web,db),l2vip.io/x')(obj)).toBe(true);
    expect(parseLabelSelector('app notin (web)')(obj)).toBe(false);
    expect(parseLabelSelector('l2vip.io/x=')(obj)).toBe(true);
    expect(parseLabelSelector('')(obj)).toBe(true);
    expect(() => parseLabelSelector('app in web')).toThrow(ApiStatusError);
  });

  it('parses field selectors on dotted paths, numbers compared as strings', () => {
    expect(parseFieldSelector('spec.nodeName=a,metadata.namespace==ns')(obj)).toBe(true);
    expect(parseFieldSelector('spec.port=80')(obj)).toBe(true);
    expect(parseFieldSelector('spec.nodeName!=a')(obj)).toBe(false);
    expect(parseFieldSelector('spec.missing=')(obj)).toBe(true);
  });
});
