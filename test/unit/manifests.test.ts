import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { Ajv } from 'ajv';
import { CustomResourceDefinition, type ICustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding, type IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding, type IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { crdSpecSchema } from '../../src/config/schema.js';

/**
 * The install manifests (config/): `kubectl kustomize config/default` renders them, every
 * rendered object passes the Kubernetes schemas offline (kubernetes-models) with no field the
 * API does not know (@kubernetes/client-node's model field lists), the speaker and controller
 * run with what the issue asks and nothing more, and our CRDs accept MetalLB's documentation
 * examples and agree with our own parser's schema (src/config/schema.ts).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = join(ROOT, 'config');
const NAMESPACE = 'metallb-system';
const KEY_FILE = 'membership.key';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, what: string): Json {
  if (!isObject(v)) throw new Error(`${what}: expected an object, got ${JSON.stringify(v)}`);
  return v;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** `o.a.b.c` for a dotted path; undefined when a step is missing. */
function at(o: unknown, path: string): unknown {
  let node = o;
  for (const key of path.split('.')) {
    if (!isObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

function parseYaml(text: string): Json[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS({ maxAliasCount: -1 }) as unknown)
    .filter((d): d is Json => d !== null && d !== undefined)
    .map((d) => obj(d, 'YAML document'));
}

function kubectlPath(): string | undefined {
  for (const candidate of ['kubectl', '/usr/bin/kubectl', '/usr/local/bin/kubectl']) {
    const r = spawnSync(candidate, ['version', '--client'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

const KUBECTL = kubectlPath();
if (!KUBECTL) {
  process.stderr.write('manifests.test: kubectl not found on PATH: skipping the `kubectl kustomize config/default` tests\n');
}

/** Renders a temporary copy of config/ with a fresh key (the user's own key is never read). */
function render(opts: { withKey: boolean }): { ok: true; objects: Json[] } | { ok: false; stderr: string } {
  if (!KUBECTL) throw new Error('no kubectl');
  const dir = mkdtempSync(join(tmpdir(), 'l2vip-manifests-'));
  try {
    cpSync(CONFIG, join(dir, 'config'), { recursive: true, filter: (src) => basename(src) !== KEY_FILE });
    if (opts.withKey) {
      writeFileSync(join(dir, 'config', 'default', KEY_FILE), `${randomBytes(48).toString('base64')}\n`, { mode: 0o600 });
    }
    const r = spawnSync(KUBECTL, ['kustomize', join(dir, 'config', 'default')], { encoding: 'utf8' });
    if (r.status !== 0) return { ok: false, stderr: r.stderr };
    return { ok: true, objects: parseYaml(r.stdout) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let rendered: Json[] | undefined;
function objects(): Json[] {
  if (!rendered) {
    const r = render({ withKey: true });
    if (!r.ok) throw new Error(`kubectl kustomize config/default failed:\n${r.stderr}`);
    rendered = r.objects;
  }
  return rendered;
}

function find(kind: string, name: string): Json {
  const found = objects().find((o) => o.kind === kind && at(o, 'metadata.name') === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return found;
}

function findKind(kind: string): Json[] {
  return objects().filter((o) => o.kind === kind);
}

function container(workload: Json): Json {
  const containers = list(at(workload, 'spec.template.spec.containers'));
  expect(containers).toHaveLength(1);
  return obj(containers[0], 'container');
}

// --- offline schema validation -----------------------------------------------------------------

function unfoldSecretData(o: Json): Json {
  const data = isObject(o.data) ? o.data : {};
  return { ...o, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, String(v).replace(/[\r\n]/g, '')])) };
}

/** kubernetes-models validators by apiVersion/kind; they throw with every schema violation. */
const VALIDATORS: Record<string, (o: Json) => void> = {
  'v1/Namespace': (o) => new Namespace(o).validate(),
  'v1/ServiceAccount': (o) => new ServiceAccount(o).validate(),
  // kustomize folds long base64 values over several lines; the API server's Go base64 decoder
  // skips the newlines, the JSON schema's "byte" format does not.
  'v1/Secret': (o) => new Secret(unfoldSecretData(o)).validate(),
  'rbac.authorization.k8s.io/v1/ClusterRole': (o) => new ClusterRole(o).validate(),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (o) =>
    new ClusterRoleBinding(o as unknown as IClusterRoleBinding).validate(),
  'rbac.authorization.k8s.io/v1/Role': (o) => new Role(o).validate(),
  'rbac.authorization.k8s.io/v1/RoleBinding': (o) => new RoleBinding(o as unknown as IRoleBinding).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o).validate(),
  'apps/v1/DaemonSet': (o) => new DaemonSet(o).validate(),
  'apiextensions.k8s.io/v1/CustomResourceDefinition': (o) =>
    new CustomResourceDefinition(o as unknown as ICustomResourceDefinition).validate(),
};

/** The generated model class of each kind in @kubernetes/client-node, for its field list. */
const CLIENT_MODEL: Record<string, string> = {
  'v1/Namespace': 'V1Namespace',
  'v1/ServiceAccount': 'V1ServiceAccount',
  'v1/Secret': 'V1Secret',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'V1ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'V1ClusterRoleBinding',
  'rbac.authorization.k8s.io/v1/Role': 'V1Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'V1RoleBinding',
  'apps/v1/Deployment': 'V1Deployment',
  'apps/v1/DaemonSet': 'V1DaemonSet',
  'apiextensions.k8s.io/v1/CustomResourceDefinition': 'V1CustomResourceDefinition',
};

interface AttributeType {
  readonly baseName: string;
  readonly type: string;
}

function attributeTypes(typeName: string): readonly AttributeType[] | undefined {
  const model: unknown = (k8s as unknown as Record<string, unknown>)[typeName];
  if (typeof model !== 'function') return undefined;
  const getter: unknown = (model as unknown as Record<string, unknown>).getAttributeTypeMap;
  if (typeof getter !== 'function') return undefined;
  return (getter as () => AttributeType[]).call(model);
}

/**
 * Fields the Kubernetes API does not know (a typo such as `hostNetwok` passes the JSON schemas,
 * which allow extra fields, but `kubectl apply` refuses it under strict field validation).
 */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1]) {
    list(value).forEach((v, i) => unknownFields(v, array[1] as string, `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1]) {
    if (isObject(value)) for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${path}.${k}`, out);
    return;
  }
  const attrs = attributeTypes(type);
  if (!attrs || !isObject(value)) return; // a primitive, IntOrString, any
  for (const [k, v] of Object.entries(value)) {
    const attr = attrs.find((a) => a.baseName === k);
    if (!attr) out.push(`${path}.${k}`);
    else unknownFields(v, attr.type, `${path}.${k}`, out);
  }
}

function typeKey(o: Json): string {
  return `${String(o.apiVersion)}/${String(o.kind)}`;
}

// --- CRD schemas as JSON schemas ---------------------------------------------------------------

/**
 * A CRD's openAPIV3Schema as ajv sees it: unknown fields refused (the API server refuses them
 * under strict field validation, or prunes them), Kubernetes extensions and documentation
 * dropped. `metadata` is a bare `type: object` and stays open, as in the API server.
 */
function toAjvSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toAjvSchema);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === 'description' || k === 'format') continue;
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(obj(v, k)).map(([p, s]) => [p, toAjvSchema(s)])) : toAjvSchema(v);
  }
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

/** The shape of a schema for comparison: types, fields, required fields, item and map types, bounds. */
function shape(node: unknown): unknown {
  if (!isObject(node)) return node;
  const s: Json = { type: node.type };
  if (isObject(node.properties)) {
    s.properties = Object.fromEntries(
      Object.entries(node.properties)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, shape(v)]),
    );
    s.required = [...list(node.required)].map(String).sort();
  }
  if (node.items !== undefined) s.items = shape(node.items);
  // CRD maps: additionalProperties; TypeBox records: patternProperties.
  const mapValue = isObject(node.additionalProperties)
    ? node.additionalProperties
    : isObject(node.patternProperties)
      ? Object.values(node.patternProperties)[0]
      : undefined;
  if (mapValue !== undefined) s.map = shape(mapValue);
  if (node.minimum !== undefined) s.minimum = node.minimum;
  if (node.maximum !== undefined) s.maximum = node.maximum;
  return s;
}

function crdFiles(): Json[] {
  const dir = join(CONFIG, 'crd');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) => parseYaml(readFileSync(join(dir, f), 'utf8')));
}

function crdFor(kind: string): Json {
  const crd = crdFiles().find((c) => at(c, 'spec.names.kind') === kind);
  if (!crd) throw new Error(`no CRD for ${kind} under config/crd`);
  return crd;
}

function versionOf(crd: Json): Json {
  const versions = list(at(crd, 'spec.versions'));
  expect(versions).toHaveLength(1);
  return obj(versions[0], 'version');
}

const ajv = new Ajv({ allErrors: true, strict: true });
const validators = new Map<string, ReturnType<typeof ajv.compile>>();
function crdValidator(kind: string): ReturnType<typeof ajv.compile> {
  let v = validators.get(kind);
  if (!v) {
    v = ajv.compile(obj(toAjvSchema(at(versionOf(crdFor(kind)), 'schema.openAPIV3Schema')), 'schema'));
    validators.set(kind, v);
  }
  return v;
}

function crdErrors(o: Json): string[] {
  const v = crdValidator(String(o.kind));
  return v(o) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

// --- the flags the commands accept (the list) -------------------------------------------

const CONTROLLER_FLAGS = ['--namespace', '--metrics-listen', '--log-level', '--lease-duration', '--lb-class', '--kubeconfig'];
const SPEAKER_FLAGS = [
  '--node-name',
  '--namespace',
  '--bind',
  '--secret-file',
  '--peer-selector',
  '--local-delivery',
  '--lb-class',
  '--ignore-exclude-lb',
  '--metrics-listen',
  '--log-level',
];

function flagsOf(args: unknown[], subcommand: string): Map<string, string | undefined> {
  expect(args[0]).toBe(subcommand);
  const flags = new Map<string, string | undefined>();
  for (const a of args.slice(1)) {
    expect(typeof a).toBe('string');
    const m = /^(--[a-z-]+)(?:=(.*))?$/.exec(String(a));
    if (!m?.[1]) throw new Error(`argument ${JSON.stringify(a)} is not --flag or --flag=value`);
    flags.set(m[1], m[2]);
  }
  return flags;
}

// ------------------------------------------------------------------------------------------------

describe.skipIf(!KUBECTL)('install manifests: kubectl kustomize config/default', () => {
  it('renders every component into the metallb-system namespace', () => {
    const kinds = objects()
      .map((o) => `${String(o.kind)}/${String(at(o, 'metadata.name'))}`)
      .map((k) => k.replace(/^Secret\/l2vip-membership-[a-z0-9]+$/, 'Secret/l2vip-membership-<hash>'))
      .sort();
    expect(kinds).toEqual(
      [
        'ClusterRole/l2vip:controller',
        'ClusterRole/l2vip:speaker',
        'ClusterRoleBinding/l2vip:controller',
        'ClusterRoleBinding/l2vip:speaker',
        'CustomResourceDefinition/ipaddresspools.metallb.io',
        'CustomResourceDefinition/l2advertisements.metallb.io',
        'CustomResourceDefinition/servicel2statuses.metallb.io',
        'DaemonSet/l2vip-speaker',
        'Deployment/l2vip-controller',
        'Namespace/metallb-system',
        'Role/l2vip-controller',
        'Role/l2vip-speaker',
        'RoleBinding/l2vip-controller',
        'RoleBinding/l2vip-speaker',
        'Secret/l2vip-membership-<hash>',
        'ServiceAccount/l2vip-controller',
        'ServiceAccount/l2vip-speaker',
      ].sort(),
    );
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);
    for (const o of objects()) {
      if (!clusterScoped.has(String(o.kind))) expect(at(o, 'metadata.namespace'), `${String(o.kind)}`).toBe(NAMESPACE);
    }
    for (const b of [...findKind('RoleBinding'), ...findKind('ClusterRoleBinding')]) {
      for (const s of list(b.subjects)) expect(at(s, 'namespace')).toBe(NAMESPACE);
    }
  });

  it('refuses to render without the membership key file, naming it', () => {
    const r = render({ withKey: false });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.stderr).toContain(KEY_FILE);
  });

  it('every object validates against the Kubernetes schemas offline (kubernetes-models)', () => {
    for (const o of objects()) {
      const validate = VALIDATORS[typeKey(o)];
      expect(validate, `no validator for ${typeKey(o)}`).toBeDefined();
      expect(() => validate?.(o), `${typeKey(o)} ${String(at(o, 'metadata.name'))}`).not.toThrow();
    }
  });

  it('no object has a field the Kubernetes API does not know', () => {
    for (const o of objects()) {
      const model = CLIENT_MODEL[typeKey(o)];
      expect(model, `no client model for ${typeKey(o)}`).toBeDefined();
      const out: string[] = [];
      unknownFields(o, model ?? '', `${String(o.kind)}/${String(at(o, 'metadata.name'))}`, out);
      expect(out).toEqual([]);
    }
    // The check itself finds a typo.
    const out: string[] = [];
    unknownFields({ spec: { template: { spec: { hostNetwok: true, containers: [] } } } }, 'V1DaemonSet', 'ds', out);
    expect(out).toEqual(['ds.spec.template.spec.hostNetwok']);
  });

  it('speaker DaemonSet: host network, NET_RAW and NET_ADMIN only, not privileged, downward API, probes', () => {
    const ds = find('DaemonSet', 'l2vip-speaker');
    const pod = obj(at(ds, 'spec.template.spec'), 'pod spec');
    expect(pod.hostNetwork).toBe(true);
    expect(pod.serviceAccountName).toBe('l2vip-speaker');
    expect(at(ds, 'spec.template.metadata.labels')).toEqual({
      'app.kubernetes.io/name': 'l2vip',
      'app.kubernetes.io/component': 'speaker',
    });
    expect(at(pod, 'securityContext.privileged')).toBeUndefined();
    const c = container(ds);
    const sc = obj(c.securityContext, 'securityContext');
    expect(sc.privileged).toBe(false);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(at(sc, 'capabilities.drop')).toEqual(['ALL']);
    expect([...list(at(sc, 'capabilities.add'))].sort()).toEqual(['NET_ADMIN', 'NET_RAW']);
    for (const f of ['hostPID', 'hostIPC']) expect(pod[f]).toBeUndefined();
    expect(list(pod.volumes).some((v) => at(v, 'hostPath') !== undefined)).toBe(false);

    const env = list(c.env).map((e) => [at(e, 'name'), at(e, 'valueFrom.fieldRef.fieldPath')]);
    expect(env).toContainEqual(['NODE_NAME', 'spec.nodeName']);
    expect(env).toContainEqual(['POD_NAMESPACE', 'metadata.namespace']);
    // Owner of the ServiceL2Status objects (speaker), Lease identity (controller).
    expect(env).toContainEqual(['POD_NAME', 'metadata.name']);

    const ports = list(c.ports).map((p) => [at(p, 'name'), at(p, 'containerPort'), at(p, 'protocol')]);
    expect(ports).toContainEqual(['monitoring', 7472, 'TCP']);
    expect(ports).toContainEqual(['membership', 7946, 'UDP']);
    expect(at(c, 'livenessProbe.httpGet')).toEqual({ path: '/healthz', port: 'monitoring' });
    expect(at(c, 'readinessProbe.httpGet')).toEqual({ path: '/readyz', port: 'monitoring' });
  });

  it('speaker arguments: only the speaker flags, with node and namespace from the downward API', () => {
    const c = container(find('DaemonSet', 'l2vip-speaker'));
    expect(c.command).toBeUndefined(); // the image's ENTRYPOINT runs bin/l2vip.js
    const flags = flagsOf(list(c.args), 'speaker');
    for (const f of flags.keys()) expect(SPEAKER_FLAGS, `unknown speaker flag ${f}`).toContain(f);
    expect(flags.get('--node-name')).toBe('$(NODE_NAME)');
    expect(flags.get('--namespace')).toBe('$(POD_NAMESPACE)');
    expect(flags.get('--metrics-listen')).toBe(':7472');
    expect(flags.get('--log-level')).toBe('info');
  });

  it('the membership Secret is generated from the key file and mounted where --secret-file points', () => {
    const secrets = findKind('Secret');
    expect(secrets).toHaveLength(1);
    const secret = secrets[0] as Json;
    const data = obj(secret.data, 'secret data');
    expect(Object.keys(data)).toEqual([KEY_FILE]);
    expect(Buffer.from(String(data[KEY_FILE]), 'base64').length).toBeGreaterThanOrEqual(32);

    const ds = find('DaemonSet', 'l2vip-speaker');
    const c = container(ds);
    const mount = list(c.volumeMounts).find((m) => at(m, 'name') === 'membership');
    expect(at(mount, 'readOnly')).toBe(true);
    const volume = list(at(ds, 'spec.template.spec.volumes')).find((v) => at(v, 'name') === 'membership');
    // kustomize rewrote the reference to the hashed name.
    expect(at(volume, 'secret.secretName')).toBe(at(secret, 'metadata.name'));
    expect(at(volume, 'secret.defaultMode')).toBe(0o400);
    expect(flagsOf(list(c.args), 'speaker').get('--secret-file')).toBe(`${String(at(mount, 'mountPath'))}/${KEY_FILE}`);
  });

  it('controller Deployment: 2 replicas, not root, no capabilities, only the controller flags, probes', () => {
    const d = find('Deployment', 'l2vip-controller');
    expect(at(d, 'spec.replicas')).toBe(2);
    const pod = obj(at(d, 'spec.template.spec'), 'pod spec');
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.serviceAccountName).toBe('l2vip-controller');
    expect(at(pod, 'securityContext.runAsNonRoot')).toBe(true);
    const c = container(d);
    expect(at(c, 'securityContext.capabilities')).toEqual({ drop: ['ALL'] });
    expect(at(c, 'securityContext.allowPrivilegeEscalation')).toBe(false);
    const env = list(c.env).map((e) => [at(e, 'name'), at(e, 'valueFrom.fieldRef.fieldPath')]);
    expect(env).toContainEqual(['POD_NAMESPACE', 'metadata.namespace']);
    // Owner of the ServiceL2Status objects (speaker), Lease identity (controller).
    expect(env).toContainEqual(['POD_NAME', 'metadata.name']);
    const flags = flagsOf(list(c.args), 'controller');
    for (const f of flags.keys()) expect(CONTROLLER_FLAGS, `unknown controller flag ${f}`).toContain(f);
    expect(flags.get('--namespace')).toBe('$(POD_NAMESPACE)');
    expect(flags.get('--metrics-listen')).toBe(':7472');
    expect(at(c, 'livenessProbe.httpGet')).toEqual({ path: '/healthz', port: 'monitoring' });
    expect(at(c, 'readinessProbe.httpGet')).toEqual({ path: '/readyz', port: 'monitoring' });
    expect(list(c.ports).map((p) => at(p, 'containerPort'))).toEqual([7472]);
  });

  it('RBAC: exactly the rules each component needs; cluster-wide only what is not namespace-local', () => {
    const rules = (kind: string, name: string): string[] =>
      list(find(kind, name).rules).flatMap((r) =>
        list(at(r, 'apiGroups')).flatMap((g) =>
          list(at(r, 'resources')).map((res) => `${String(g) || 'core'}/${String(res)}: ${list(at(r, 'verbs')).join(',')}`),
        ),
      );
    expect(rules('ClusterRole', 'l2vip:controller').sort()).toEqual(
      [
        'core/services: get,list,watch,patch',
        'core/services/status: update,patch',
        'core/namespaces: list,watch',
        'core/events: create,patch',
        'events.k8s.io/events: create,patch',
      ].sort(),
    );
    expect(rules('Role', 'l2vip-controller').sort()).toEqual(
      [
        'metallb.io/ipaddresspools: get,list,watch',
        'metallb.io/ipaddresspools/status: update,patch',
        'coordination.k8s.io/leases: get,create,update',
      ].sort(),
    );
    expect(rules('ClusterRole', 'l2vip:speaker').sort()).toEqual(
      [
        'core/services: get,list,watch',
        'core/nodes: get,list,watch',
        'discovery.k8s.io/endpointslices: get,list,watch',
        'core/events: create,patch',
        'events.k8s.io/events: create,patch',
      ].sort(),
    );
    expect(rules('Role', 'l2vip-speaker').sort()).toEqual(
      [
        'core/pods: get,list,watch',
        'metallb.io/ipaddresspools: get,list,watch',
        'metallb.io/l2advertisements: get,list,watch',
        'metallb.io/servicel2statuses: get,list,watch,create,update,patch,delete',
        'metallb.io/servicel2statuses/status: update,patch',
      ].sort(),
    );
    for (const component of ['controller', 'speaker']) {
      expect(at(find('ClusterRoleBinding', `l2vip:${component}`), 'roleRef.name')).toBe(`l2vip:${component}`);
      expect(at(find('RoleBinding', `l2vip-${component}`), 'roleRef')).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: `l2vip-${component}`,
      });
      for (const b of [find('ClusterRoleBinding', `l2vip:${component}`), find('RoleBinding', `l2vip-${component}`)]) {
        expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: `l2vip-${component}`, namespace: NAMESPACE }]);
      }
    }
  });

  it('the namespace allows the speaker (Pod Security "privileged", as MetalLB\'s)', () => {
    expect(at(find('Namespace', NAMESPACE), 'metadata.labels')).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'privileged',
    });
  });
});

describe('CRDs: schema-compatible with MetalLB', () => {
  const examples = parseYaml(readFileSync(new URL('./fixtures/metallb-examples.yaml', import.meta.url), 'utf8'));

  it('names, scope, version, status subresource and printer columns as MetalLB has them', () => {
    const expected: Record<string, [string, string[]]> = {
      IPAddressPool: ['ipaddresspools', ['Auto Assign', 'Avoid Buggy IPs', 'Addresses']],
      L2Advertisement: ['l2advertisements', ['IPAddressPools', 'IPAddressPool Selectors', 'Interfaces', 'Node Selectors']],
      ServiceL2Status: ['servicel2statuses', ['Allocated Node', 'Service Name', 'Service Namespace']],
    };
    for (const [kind, [plural, columns]] of Object.entries(expected)) {
      const crd = crdFor(kind);
      expect(at(crd, 'metadata.name')).toBe(`${plural}.metallb.io`);
      expect(at(crd, 'spec.group')).toBe('metallb.io');
      expect(at(crd, 'spec.scope')).toBe('Namespaced');
      expect(at(crd, 'spec.names')).toEqual({
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
      });
      const v = versionOf(crd);
      expect([v.name, v.served, v.storage]).toEqual(['v1beta1', true, true]);
      expect(at(v, 'subresources')).toEqual({ status: {} });
      expect(list(v.additionalPrinterColumns).map((c) => at(c, 'name'))).toEqual(columns);
    }
  });

  it('accepts every Layer 2 example of MetalLB\'s documentation', () => {
    expect(examples.length).toBeGreaterThanOrEqual(10);
    for (const e of examples) expect(crdErrors(e), `${String(e.kind)} ${String(at(e, 'metadata.name'))}`).toEqual([]);
  });

  it('refuses what MetalLB\'s CRDs refuse', () => {
    const pool = (spec: unknown, status?: unknown): Json => ({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'p' },
      spec,
      ...(status === undefined ? {} : { status }),
    });
    const adv = (spec: unknown): Json => ({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'a' }, spec });
    const bad: Json[] = [
      { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'p' } }, // no spec
      pool({}), // no addresses
      pool({ addresses: '10.0.0.0/24' }),
      pool({ addresses: ['10.0.0.0/24'], autoAssign: 'yes' }),
      pool({ addresses: ['10.0.0.0/24'], adresses: [] }),
      pool({ addresses: ['10.0.0.0/24'], serviceAllocation: { priority: 1.5 } }),
      pool({ addresses: ['10.0.0.0/24'], serviceAllocation: { namespaceSelectors: [{ matchExpressions: [{ key: 'a' }] }] } }),
      pool({ addresses: ['10.0.0.0/24'] }, { assignedIPv4: 1 }), // status needs all four counts
      adv({ interfaces: 'eth0' }),
      adv({ nodeSelectors: [{ matchLabels: { a: 1 } }] }),
      adv({ preferredNodeSelectors: [{ weight: 0, preference: {} }] }),
      adv({ preferredNodeSelectors: [{ weight: 101, preference: {} }] }),
      adv({ preferredNodeSelectors: [{ preference: {} }] }),
      { apiVersion: 'metallb.io/v1beta1', kind: 'ServiceL2Status', metadata: { name: 's' }, status: { interfaces: ['eth0'] } },
    ];
    for (const b of bad) expect(crdErrors(b), JSON.stringify(b)).not.toEqual([]);
  });

  it('every label selector is atomic and every matchExpressions entry needs key and operator', () => {
    const selectors: Json[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      if (!isObject(node)) return;
      if (isObject(node.properties) && 'matchLabels' in node.properties) selectors.push(node);
      Object.values(node).forEach(walk);
    };
    crdFiles().forEach(walk);
    expect(selectors).toHaveLength(6); // 2 in IPAddressPool, 4 in L2Advertisement
    for (const s of selectors) {
      expect(s['x-kubernetes-map-type']).toBe('atomic');
      expect(at(s, 'properties.matchExpressions.items.required')).toEqual(['key', 'operator']);
    }
  });

  it('spec schemas agree with our own parser\'s (src/config/schema.ts)', () => {
    for (const kind of ['IPAddressPool', 'L2Advertisement'] as const) {
      const crdSpec = at(versionOf(crdFor(kind)), 'schema.openAPIV3Schema.properties.spec');
      expect(shape(crdSpec), kind).toEqual(shape(crdSpecSchema(kind)));
    }
  });
});

describe('the repository holds no membership key', () => {
  function yamlFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) return yamlFiles(p);
      return /\.ya?ml$/.test(f) ? [p] : [];
    });
  }

  it('no Secret object under config/; the key file is ignored by git, docker and npm', () => {
    for (const file of yamlFiles(CONFIG)) {
      for (const o of parseYaml(readFileSync(file, 'utf8'))) expect(o.kind, file).not.toBe('Secret');
    }
    const gitignore = readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n');
    expect(gitignore).toContain(`/config/default/${KEY_FILE}`);
    const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(dockerignore).toContain(`**/${KEY_FILE}`);
    // package.json `files` ships config/; a .npmignore below the root still applies.
    const npmignore = readFileSync(join(CONFIG, 'default', '.npmignore'), 'utf8').split('\n');
    expect(npmignore).toContain(KEY_FILE);
  });
});
