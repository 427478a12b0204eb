// The subset of API-server validation (422 Invalid) that our clients could plausibly trip:
// label keys and values, annotation keys (apimachinery's qualified-name rules), Service status
// ingress (only on LoadBalancer Services, valid IPs, ipMode VIP or Proxy), port numbers, Lease
// duration. Anything else is accepted as is.

import { isIP } from 'node:net';
import type { KindInfo } from './kinds.js';
import type { StatusCause } from './status-error.js';
import { isRecord, type KubeObject } from './types.js';

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function invalidValue(field: string, value: unknown, why: string): StatusCause {
  return { reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field };
}

function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'";
  const [prefixOrName = '', maybeName] = parts;
  const name = maybeName ?? prefixOrName;
  const prefix = maybeName === undefined ? undefined : prefixOrName;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return 'prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\'';
  }
  if (name.length === 0 || name.length > 63 || !NAME_PART.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (max 63)";
  }
  return undefined;
}

export function validate(kind: KindInfo, obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) {
    const keyProblem = qualifiedNameProblem(k);
    if (keyProblem !== undefined) causes.push(invalidValue('metadata.labels', k, keyProblem));
    if (typeof v !== 'string' || v.length > 63 || (v !== '' && !NAME_PART.test(v))) {
      causes.push(
        invalidValue(`metadata.labels`, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (max 63)"),
      );
    }
  }
  for (const k of Object.keys(obj.metadata?.annotations ?? {})) {
    const keyProblem = qualifiedNameProblem(k);
    if (keyProblem !== undefined) causes.push(invalidValue('metadata.annotations', k, keyProblem));
  }
  if (kind.group === '' && kind.plural === 'services') {
    const spec = isRecord(obj.spec) ? obj.spec : {};
    (Array.isArray(spec.ports) ? spec.ports : []).forEach((p, i) => {
      if (isRecord(p) && (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535)) {
        causes.push(invalidValue(`spec.ports[${i}].port`, p.port, 'must be between 1 and 65535, inclusive'));
      }
    });
    const status = isRecord(obj.status) ? obj.status : {};
    const lb = isRecord(status.loadBalancer) ? status.loadBalancer : {};
    const ingress = Array.isArray(lb.ingress) ? lb.ingress : [];
    if (spec.type !== 'LoadBalancer' && ingress.length > 0) {
      causes.push({ reason: 'FieldValueForbidden', message: "Forbidden: may only be used when `spec.type` is 'LoadBalancer'", field: 'status.loadBalancer.ingress' });
    }
    ingress.forEach((ing, i) => {
      if (!isRecord(ing)) return;
      if (ing.ip !== undefined && (typeof ing.ip !== 'string' || isIP(ing.ip) === 0)) {
        causes.push(invalidValue(`status.loadBalancer.ingress[${i}].ip`, ing.ip, 'must be a valid IP address'));
      }
      if (ing.ipMode !== undefined && ing.ipMode !== 'VIP' && ing.ipMode !== 'Proxy') {
        causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(ing.ipMode)}: supported values: "Proxy", "VIP"`, field: `status.loadBalancer.ingress[${i}].ipMode` });
      }
    });
  }
  if (kind.group === 'coordination.k8s.io' && kind.plural === 'leases') {
    const spec = isRecord(obj.spec) ? obj.spec : {};
    const d = spec.leaseDurationSeconds;
    if (d !== undefined && (typeof d !== 'number' || d <= 0)) causes.push(invalidValue('spec.leaseDurationSeconds', d, 'must be greater than 0'));
  }
  return causes;
}
