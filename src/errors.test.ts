import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALLOCATION_CODE_LIST } from './allocator/result-codes.js';
import { CONFIG_ERROR_CODES, CONFIG_ISSUE_CODES, CONFIG_WARNING_CODES } from './config/issue-codes.js';
import { ERROR_CLASSES, L2vipError } from './errors.js';

const DOC = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

/** Codes documented as headings ("### L2VIP_X"), with the section ("## ...") each is in. */
function documented(): Map<string, string> {
  const out = new Map<string, string>();
  let section = '';
  for (const line of DOC.split('\n')) {
    const h2 = /^## (.+)$/.exec(line);
    if (h2) section = h2[1]?.trim() ?? '';
    const code = /^#{3,4} (L2VIP_[A-Z0-9_]+)\s*$/.exec(line);
    if (code) {
      expect(out.has(code[1] as string), `${code[1]} documented twice`).toBe(false);
      out.set(code[1] as string, section);
    }
  }
  return out;
}

function classCodes(): string[] {
  return ERROR_CLASSES.map((C) => {
    const instance: unknown = Reflect.construct(C, ['test', 'ETEST']);
    if (!(instance instanceof L2vipError)) throw new Error(`${C.name} is not an L2vipError`);
    return instance.code;
  });
}

describe('docs/errors.md', () => {
  const docs = documented();

  it('documents every code of src/errors.ts', () => {
    for (const code of classCodes()) expect(docs.has(code), `${code} missing from docs/errors.md`).toBe(true);
  });

  it('documents every configuration issue code, in the Configuration section', () => {
    for (const code of CONFIG_ISSUE_CODES) expect(docs.get(code), `${code} missing from docs/errors.md`).toBe('Configuration');
  });

  it('documents every allocation code, in the Allocation section', () => {
    for (const code of ALLOCATION_CODE_LIST) expect(docs.get(code), `${code} missing from docs/errors.md`).toBe('Allocation');
  });

  it('documents no code that does not exist', () => {
    const known = new Set<string>([...classCodes(), ...CONFIG_ISSUE_CODES, ...ALLOCATION_CODE_LIST]);
    for (const code of docs.keys()) expect(known.has(code), `${code} is documented but not defined`).toBe(true);
  });
});

describe('code catalogues', () => {
  it('keeps every code unique', () => {
    const all = [...classCodes(), ...CONFIG_ISSUE_CODES, ...ALLOCATION_CODE_LIST];
    expect(new Set(all).size).toBe(all.length);
  });

  it('separates configuration errors from warnings', () => {
    const errors = new Set<string>(Object.values(CONFIG_ERROR_CODES));
    for (const w of Object.values(CONFIG_WARNING_CODES)) expect(errors.has(w)).toBe(false);
  });

  it('names every error after its class', () => {
    for (const C of ERROR_CLASSES) {
      const e: unknown = Reflect.construct(C, ['message', 'ETEST']);
      expect(e instanceof Error && e.name).toBe(C.name);
    }
  });
});
