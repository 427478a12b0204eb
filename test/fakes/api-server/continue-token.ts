// List paging: continue tokens carry the list's resourceVersion and the last key served, so a
// token from before a compaction can be refused with 410 as a real server does.

import { badRequest } from './status-error.js';
import { isRecord, type KubeObject } from './types.js';

export interface ContinueToken {
  rv: number;
  after: string;
}

export function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

export function decodeContinue(s: string): ContinueToken {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (isRecord(v) && typeof v.rv === 'number' && typeof v.after === 'string') return { rv: v.rv, after: v.after };
  } catch {
    // fall through
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

/** The order of list results (and of continue tokens): namespace, then name. */
export function sortKey(o: KubeObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}
