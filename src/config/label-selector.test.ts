import { describe, expect, it } from 'vitest';
import {
  formatLabels,
  formatSelector,
  labelKeyProblem,
  labelValueProblem,
  matchesSelector,
  selectorIdentity,
  validateLabelSelector,
  type LabelSelector,
  type RawLabelSelector,
} from './label-selector.js';

describe('label key and value syntax (apimachinery)', () => {
  it.each(['app', 'app.kubernetes.io/name', 'a', 'A-b_c.d', 'example.com/x', '1abc', 'a'.repeat(63)])('accepts key %j', (k) => {
    expect(labelKeyProblem(k)).toBeUndefined();
  });

  it.each([
    ['', /name part must be non-empty/],
    ['-app', /name part must consist/],
    ['app-', /name part must consist/],
    ['a'.repeat(64), /no more than 63/],
    ['/app', /prefix part must be non-empty/],
    ['Example.com/app', /lowercase DNS subdomain/],
    ['a/b/c', /qualified name/],
    ['example.com/', /name part must be non-empty/],
    ['has space', /name part must consist/],
  ])('refuses key %j', (k, why) => {
    expect(labelKeyProblem(k)).toMatch(why);
  });

  it.each(['', 'v', 'V1.2-3_4', 'a'.repeat(63)])('accepts value %j', (v) => {
    expect(labelValueProblem(v)).toBeUndefined();
  });

  it.each([
    ['-v', /must be empty or consist/],
    ['v.', /must be empty or consist/],
    ['a b', /must be empty or consist/],
    ['a'.repeat(64), /no more than 63/],
  ])('refuses value %j', (v, why) => {
    expect(labelValueProblem(v)).toMatch(why);
  });
});

describe('validateLabelSelector', () => {
  const cases: [string, RawLabelSelector, string[]][] = [
    ['an empty selector', {}, []],
    ['valid labels and expressions', { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['x'] }] }, []],
    ['an unknown operator', { matchExpressions: [{ key: 'k', operator: 'surrounds', values: ['x'] }] }, ['matchExpressions[0].operator']],
    ['a lower-case operator', { matchExpressions: [{ key: 'k', operator: 'in', values: ['x'] }] }, ['matchExpressions[0].operator']],
    ['In without values', { matchExpressions: [{ key: 'k', operator: 'In' }] }, ['matchExpressions[0].values']],
    ['NotIn with an empty list', { matchExpressions: [{ key: 'k', operator: 'NotIn', values: [] }] }, ['matchExpressions[0].values']],
    ['Exists with values', { matchExpressions: [{ key: 'k', operator: 'Exists', values: ['x'] }] }, ['matchExpressions[0].values']],
    ['DoesNotExist with values', { matchExpressions: [{ key: 'k', operator: 'DoesNotExist', values: ['x'] }] }, ['matchExpressions[0].values']],
    ['a bad key in matchLabels', { matchLabels: { '-bad': 'x' } }, ['matchLabels["-bad"]']],
    ['a bad value in matchLabels', { matchLabels: { good: 'bad value' } }, ['matchLabels.good']],
    ['a bad expression key', { matchExpressions: [{ key: 'a/b/c', operator: 'Exists' }] }, ['matchExpressions[0].key']],
    ['a bad expression value', { matchExpressions: [{ key: 'k', operator: 'In', values: ['ok', '-no'] }] }, ['matchExpressions[0].values[1]']],
    ['a duplicate value', { matchExpressions: [{ key: 'k', operator: 'In', values: ['x', 'x'] }] }, ['matchExpressions[0].values[1]']],
    [
      'a duplicate expression (values in another order)',
      {
        matchExpressions: [
          { key: 'k', operator: 'In', values: ['a', 'b'] },
          { key: 'k', operator: 'In', values: ['b', 'a'] },
        ],
      },
      ['matchExpressions[1]'],
    ],
  ];
  it.each(cases)('%s', (_desc, sel, paths) => {
    expect(validateLabelSelector(sel).map((p) => p.path)).toEqual(paths);
  });

  it('suggests the right case for an operator', () => {
    const [p] = validateLabelSelector({ matchExpressions: [{ key: 'k', operator: 'notin', values: ['x'] }] });
    expect(p?.message).toMatch(/write "NotIn"/);
  });
});

describe('matchesSelector', () => {
  const labels = { app: 'web', tier: 'front', env: '' };
  const cases: [string, LabelSelector, boolean][] = [
    ['empty selector matches everything', {}, true],
    ['matchLabels equal', { matchLabels: { app: 'web' } }, true],
    ['matchLabels differ', { matchLabels: { app: 'db' } }, false],
    ['matchLabels missing key', { matchLabels: { zone: 'a' } }, false],
    ['matchLabels empty value', { matchLabels: { env: '' } }, true],
    ['In hit', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['back', 'front'] }] }, true],
    ['In miss', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, false],
    ['In on a missing key', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn hit', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, false],
    ['NotIn miss', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['back'] }] }, true],
    ['NotIn on a missing key matches', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    ['Exists on a missing key', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    ['DoesNotExist on a present key', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    [
      'labels and expressions are ANDed',
      { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] },
      false,
    ],
  ];
  it.each(cases)('%s', (_desc, sel, want) => {
    expect(matchesSelector(labels, sel)).toBe(want);
  });

  it('treats missing labels as an empty set', () => {
    expect(matchesSelector(undefined, {})).toBe(true);
    expect(matchesSelector(undefined, { matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] })).toBe(true);
  });

  it('does not match inherited properties', () => {
    expect(matchesSelector({}, { matchExpressions: [{ key: 'toString', operator: 'Exists' }] })).toBe(false);
  });
});

describe('formatting', () => {
  it('prints a selector as kubectl does, sorted by key', () => {
    expect(
      formatSelector({
        matchLabels: { z: '1', a: '2' },
        matchExpressions: [
          { key: 'm', operator: 'In', values: ['y', 'x'] },
          { key: 'b', operator: 'DoesNotExist' },
          { key: 'n', operator: 'Exists' },
          { key: 'o', operator: 'NotIn', values: ['q'] },
        ],
      }),
    ).toBe('a=2,!b,m in (x,y),n,o notin (q),z=1');
  });

  it('prints labels sorted (the backend key of a Local Service)', () => {
    expect(formatLabels({ b: '2', a: '1' })).toBe('a=1,b=2');
    expect(formatLabels(undefined)).toBe('');
  });

  it('gives equal identities to selectors MetalLB treats as duplicates', () => {
    expect(selectorIdentity({ matchLabels: { a: '1', b: '2' } })).toBe(selectorIdentity({ matchLabels: { b: '2', a: '1' } }));
    expect(selectorIdentity({})).toBe(selectorIdentity({ matchLabels: {}, matchExpressions: [] }));
    expect(selectorIdentity({ matchLabels: { a: '1' } })).not.toBe(selectorIdentity({ matchLabels: { a: '2' } }));
  });
});
