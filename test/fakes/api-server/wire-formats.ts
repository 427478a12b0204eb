// Field formats a real API server enforces while decoding, which clients get wrong in practice.
// metav1.MicroTime parses with Go's RFC3339Micro layout "2006-01-02T15:04:05.000000Z07:00":
// exactly six fractional digits. A JavaScript Date serialises with three, and the real server
// answers 400 BadRequest (see /work/shared/reference/kubernetes-notes.md).

import type { KindInfo } from './kinds.js';
import { badRequest } from './status-error.js';
import { isRecord, type KubeObject } from './types.js';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

/** Dotted paths of MicroTime fields per group/plural. */
const MICRO_TIME_FIELDS: Record<string, string[]> = {
  'coordination.k8s.io/leases': ['spec.acquireTime', 'spec.renewTime'],
  'events.k8s.io/events': ['eventTime', 'series.lastObservedTime'],
  '/events': ['eventTime', 'series.lastObservedTime'],
};

function at(obj: KubeObject, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (!isRecord(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

export function checkWireFormats(kind: KindInfo, obj: KubeObject): void {
  for (const path of MICRO_TIME_FIELDS[`${kind.group}/${kind.plural}`] ?? []) {
    const v = at(obj, path);
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !MICRO_TIME.test(v)) {
      const shown = typeof v === 'string' ? v : JSON.stringify(v);
      const frac = typeof v === 'string' ? (/\.\d*.*$/.exec(v)?.[0] ?? v) : shown;
      throw badRequest(
        `${kind.kind} in version "${kind.version}" cannot be handled as a ${kind.kind}: parsing time "${shown}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${frac}" as ".000000"`,
      );
    }
  }
}
