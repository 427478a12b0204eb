// Server-side printing (meta.k8s.io/v1 Table), as `kubectl get` asks for with
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`. Columns: Name and Age for every
// kind, plus Type/Cluster-IP/External-IP/Port(s) for Services, as a real server prints them.

import type { KindInfo } from './kinds.js';
import { isRecord, type KubeObject } from './types.js';

export type IncludeObject = 'None' | 'Object' | 'PartialObjectMetadata';

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

function column(name: string, format = ''): Column {
  return { name, type: 'string', format, description: '', priority: 0 };
}

export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /;\s*as=Table/.test(accept);
}

export function includeObjectParam(v: string | null): IncludeObject {
  return v === 'None' || v === 'Object' ? v : 'PartialObjectMetadata';
}

function age(created: string | undefined): string {
  if (created === undefined) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(created)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function serviceCells(obj: KubeObject): string[] {
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const status = isRecord(obj.status) ? obj.status : {};
  const lb = isRecord(status.loadBalancer) ? status.loadBalancer : {};
  const ingress = Array.isArray(lb.ingress) ? lb.ingress : [];
  const ips = ingress.map((i) => (isRecord(i) && typeof i.ip === 'string' ? i.ip : '')).filter((ip) => ip !== '');
  const type = typeof spec.type === 'string' ? spec.type : 'ClusterIP';
  const external = ips.length > 0 ? ips.join(',') : type === 'LoadBalancer' ? '<pending>' : '<none>';
  const ports = (Array.isArray(spec.ports) ? spec.ports : [])
    .filter(isRecord)
    .map((p) => {
      const node = typeof p.nodePort === 'number' ? `:${p.nodePort}` : '';
      return `${String(p.port)}${node}/${typeof p.protocol === 'string' ? p.protocol : 'TCP'}`;
    });
  return [
    type,
    typeof spec.clusterIP === 'string' ? spec.clusterIP : '<none>',
    external,
    ports.length > 0 ? ports.join(',') : '<none>',
  ];
}

function columnsFor(kind: KindInfo): Column[] {
  if (kind.group === '' && kind.plural === 'services') {
    return [column('Name', 'name'), column('Type'), column('Cluster-IP'), column('External-IP'), column('Port(s)'), column('Age')];
  }
  return [column('Name', 'name'), column('Age')];
}

function row(kind: KindInfo, obj: KubeObject, include: IncludeObject): Record<string, unknown> {
  const name = obj.metadata?.name ?? '';
  const extra = kind.group === '' && kind.plural === 'services' ? serviceCells(obj) : [];
  const r: Record<string, unknown> = { cells: [name, ...extra, age(obj.metadata?.creationTimestamp)] };
  if (include === 'Object') r.object = obj;
  if (include === 'PartialObjectMetadata') {
    r.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata ?? {} };
  }
  return r;
}

export function toTable(
  kind: KindInfo,
  items: readonly KubeObject[],
  include: IncludeObject,
  listMeta: Record<string, string>,
): Record<string, unknown> {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: columnsFor(kind),
    rows: items.map((o) => row(kind, o, include)),
  };
}
