import { describe, expect, it } from 'vitest';
import { matchesSelector } from './label-selector.js';
import { parseSelectorText } from './selector-text.js';

function sel(text: string) {
  const r = parseSelectorText(text);
  if (!r.ok) throw new Error(r.message);
  return r.selector;
}

describe('label selectors as text (kubectl -l, --peer-selector)', () => {
  it('parse every requirement form', () => {
    expect(sel('app=l2vip, component == speaker,tier!=db,zone in (a, b),env notin (dev),ready,!legacy')).toEqual({
      matchExpressions: [
        { key: 'app', operator: 'In', values: ['l2vip'] },
        { key: 'component', operator: 'In', values: ['speaker'] },
        { key: 'tier', operator: 'NotIn', values: ['db'] },
        { key: 'zone', operator: 'In', values: ['a', 'b'] },
        { key: 'env', operator: 'NotIn', values: ['dev'] },
        { key: 'ready', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    });
    expect(sel('app.kubernetes.io/name=l2vip')).toEqual({ matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['l2vip'] }] });
    expect(sel('empty=')).toEqual({ matchExpressions: [{ key: 'empty', operator: 'In', values: [''] }] });
  });

  it('select everything with an empty text', () => {
    expect(sel('  ')).toEqual({});
    expect(matchesSelector({ any: 'thing' }, sel(''))).toBe(true);
  });

  it('match as kubectl does', () => {
    const s = sel('app=l2vip,component in (speaker),!legacy');
    expect(matchesSelector({ app: 'l2vip', component: 'speaker' }, s)).toBe(true);
    expect(matchesSelector({ app: 'l2vip', component: 'speaker', legacy: '' }, s)).toBe(false);
    expect(matchesSelector({ app: 'l2vip', component: 'controller' }, s)).toBe(false);
    expect(matchesSelector({ component: 'speaker' }, sel('app!=l2vip'))).toBe(true);
  });

  it('refuse what kubectl refuses, saying where', () => {
    const bad = ['a b', 'x in ()', 'x in (a', 'x > 1', 'Bad_Key/x=1', 'a=b c', ',', 'a=,', 'a=-bad-', 'x in a'];
    for (const text of bad) {
      const r = parseSelectorText(text);
      expect(r.ok, text).toBe(false);
      expect(!r.ok && r.message).toContain(`label selector ${JSON.stringify(text)}:`);
    }
    expect(parseSelectorText('x > 1').ok === false && (parseSelectorText('x > 1') as { message: string }).message).toContain('no label selector form');
  });
});
