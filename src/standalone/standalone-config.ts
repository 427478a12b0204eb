import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { checkGarpTiming, DEFAULT_GARP_TIMING, type GarpTiming } from '../announcer/garp-schedule.js';
import { toOwnedIp } from '../announcer/owned-ips.js';
import { parseIp } from '../ip/address.js';
import { unusableVipReason } from '../ip/vip-address.js';
import { formatFieldPath, parseFieldPath } from '../config/field-path.js';
import { schemaProblems } from '../config/schema.js';
import { readYamlDocuments, type SourceDocument } from '../config/yaml-source.js';
import { ConfigError } from '../errors.js';
import { parseHostPort } from '../ip/host-port.js';
import type { MembershipOptions } from '../membership/membership-options.js';
import { resolveMembershipOptions } from '../membership/membership-options.js';
import type { ServiceSpec } from '../speaker/ownership.js';
import { DEFAULT_HOLD_DOWN_MS } from '../speaker/speaker.js';
import { compileExcludeList } from '../netdev/eligibility.js';
import { resolveVirtualMac, virtualMacCollisions, virtualMacProblem } from '../announcer/virtual-mac.js';

/**
 * The standalone config file (YAML). The fields of the issue are the contract: node,
 * cluster.{bind,peers,secretFile}, interfaces, services[].{name,addresses,nodes}, localDelivery.
 * The rest are optional tunables.
 */
const Peer = Type.Object({ name: Type.String({ minLength: 1 }), address: Type.String() }, { additionalProperties: false });
const Service = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    addresses: Type.Array(Type.String(), { minItems: 1 }),
    nodes: Type.Optional(Type.Array(Type.String())),
    interfaces: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    /** true: a MAC derived from the name; a MAC text: that MAC; false: none (docs/virtual-mac.md). */
    virtualMac: Type.Optional(Type.Union([Type.Boolean(), Type.String()])),
  },
  { additionalProperties: false },
);
const Membership = Type.Object(
  {
    topology: Type.Optional(Type.Union([Type.Literal('ring'), Type.Literal('mesh')])),
    heartbeatMs: Type.Optional(Type.Integer({ minimum: 1 })),
    suspectMs: Type.Optional(Type.Integer({ minimum: 1 })),
    deadMs: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Longest gap between full heartbeats to a neighbour; beats in between (docs/membership.md#beats). */
    fullHeartbeatMs: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Main event loop silent this long: heartbeats stop (docs/membership.md#which-thread). */
    mainLoopTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export const StandaloneFileSchema = Type.Object(
  {
    node: Type.Optional(Type.String({ minLength: 1 })),
    cluster: Type.Object(
      {
        bind: Type.String(),
        peers: Type.Array(Peer, { minItems: 1 }),
        secretFile: Type.String({ minLength: 1 }),
        previousSecretFiles: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
        membership: Type.Optional(Membership),
      },
      { additionalProperties: false },
    ),
    interfaces: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    excludeInterfaces: Type.Optional(Type.Array(Type.String())),
    localDelivery: Type.Optional(Type.Boolean()),
    /** Default of services[].virtualMac. */
    virtualMac: Type.Optional(Type.Boolean()),
    garp: Type.Optional(
      Type.Object(
        { burstMs: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }))), refreshMs: Type.Optional(Type.Integer({ minimum: 0 })) },
        { additionalProperties: false },
      ),
    ),
    handoffMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    holdDownMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
    metrics: Type.Optional(Type.Object({ listen: Type.String() }, { additionalProperties: false })),
    services: Type.Array(Service),
  },
  { additionalProperties: false },
);
type StandaloneFile = Static<typeof StandaloneFileSchema>;

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  /** 1-based line (and column) of `path` in the file, or of its closest parent that is there. */
  readonly line?: number;
  readonly column?: number;
}

/** The validated config, with defaults filled in. */
export interface StandaloneConfig {
  readonly node: string;
  readonly bind: string;
  readonly peers: readonly { readonly name: string; readonly address: string }[];
  readonly secretFile: string;
  /** Secrets accepted from peers but never used to send: key rotation (docs/standalone.md). */
  readonly previousSecretFiles: readonly string[];
  readonly membership: MembershipOptions;
  readonly interfaces: readonly string[] | undefined;
  readonly excludeInterfaces: readonly string[] | undefined;
  readonly localDelivery: boolean;
  readonly garp: GarpTiming;
  readonly handoffMs: number;
  /** Flap damping: a node back from dead takes its VIPs back only after this long (0: off). */
  readonly holdDownMs: number;
  readonly metricsListen: string | undefined;
  readonly services: readonly ServiceSpec[];
}

let compiled: ValidateFunction<StandaloneFile> | undefined;

/** The schema's validator, compiled at the first parse (not at import: `l2vip --help` needs none). */
function validator(): ValidateFunction<StandaloneFile> {
  compiled ??= new Ajv({ allErrors: true, strict: false }).compile<StandaloneFile>(StandaloneFileSchema);
  return compiled;
}

/** Adds the line and column of each problem's field (or of its closest parent in the file). */
function locate(doc: SourceDocument | undefined, problems: readonly ConfigProblem[]): ConfigProblem[] {
  return problems.map((p) => {
    if (p.line !== undefined || doc === undefined || p.path.startsWith('(')) return p;
    const pos = doc.locate(parseFieldPath(p.path));
    return pos === undefined ? p : { ...p, line: pos.line, column: pos.column };
  });
}

/** One problem as an operator reads it: `FILE:LINE: PATH: MESSAGE`, as compilers print theirs. */
export function formatStandaloneProblem(file: string, p: ConfigProblem): string {
  return `${file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.path}: ${p.message}`;
}

/** Every problem of the file in one ConfigError, one line each. */
export function standaloneConfigError(file: string, problems: readonly ConfigProblem[]): ConfigError {
  const lines = problems.map((p) => formatStandaloneProblem(file, p));
  return new ConfigError(lines.length === 1 ? lines[0]! : `${problems.length} problems in ${file}:\n  ${lines.join('\n  ')}`, problems);
}

/**
 * Parses and validates the file's text. Pure: reads no file (the secret is read by the caller).
 * Returns every problem found, never throws.
 */
export function parseStandaloneConfig(text: string, defaultNode = hostname()): { config?: StandaloneConfig; problems: ConfigProblem[] } {
  // YAML 1.2 and the config module's reader: duplicate keys refused, positions kept for problems.
  const yaml = readYamlDocuments(text, undefined, { version: '1.2' });
  if (yaml.problems.length > 0) {
    return { problems: yaml.problems.map((p) => ({ path: '(file)', message: `not valid YAML: ${p.message}`, ...(p.position ? { line: p.position.line, column: p.position.column } : {}) })) };
  }
  if (yaml.documents.length > 1) {
    const second = yaml.documents[1]!.locate([]);
    return { problems: [{ path: '(file)', message: 'holds more than one YAML document (remove the "---" separators)', ...(second ? { line: second.line, column: second.column } : {}) }] };
  }
  const doc = yaml.documents[0];
  if (doc === undefined) return { problems: [{ path: '(file)', message: 'is empty: it needs at least cluster and services (see docs/standalone.md)' }] };
  const raw = doc.value;
  const validate = validator();
  if (!validate(raw)) {
    const problems = schemaProblems(StandaloneFileSchema, raw, validate.errors ?? []).map((p) => ({
      path: formatFieldPath(p.segments) || '(top level)',
      message: p.message,
    }));
    return { problems: locate(doc, problems) };
  }
  const f = raw;
  const problems: ConfigProblem[] = [];
  const node = f.node ?? defaultNode;
  const peerNames = new Set<string>();
  const peerAddrs = new Set<string>();
  f.cluster.peers.forEach((p, i) => {
    if (peerNames.has(p.name)) problems.push({ path: `cluster.peers[${i}].name`, message: `duplicate peer name "${p.name}"` });
    peerNames.add(p.name);
    try {
      parseHostPort(p.address, `cluster.peers[${i}].address`);
    } catch (err) {
      problems.push({ path: `cluster.peers[${i}].address`, message: (err as Error).message.replace(/^cluster\.peers\[\d+\]\.address: /, '') });
    }
    if (peerAddrs.has(p.address)) problems.push({ path: `cluster.peers[${i}].address`, message: `duplicate peer address "${p.address}"` });
    peerAddrs.add(p.address);
  });
  try {
    parseHostPort(f.cluster.bind, 'cluster.bind');
  } catch (err) {
    problems.push({ path: 'cluster.bind', message: (err as Error).message.replace(/^cluster\.bind: /, '') });
  }
  if (!peerNames.has(node)) {
    problems.push({ path: f.node === undefined ? 'node' : 'node', message: `this node "${node}" is not in cluster.peers (list every member, this node included${f.node === undefined ? '; node defaults to the hostname' : ''})` });
  }
  const owners = new Map<string, string>();
  const serviceNames = new Set<string>();
  const services: ServiceSpec[] = [];
  f.services.forEach((s, i) => {
    if (serviceNames.has(s.name)) problems.push({ path: `services[${i}].name`, message: `duplicate service name "${s.name}"` });
    serviceNames.add(s.name);
    const addresses: string[] = [];
    s.addresses.forEach((a, j) => {
      const ip = toOwnedIp(a);
      const path = `services[${i}].addresses[${j}]`;
      if (ip === undefined || a.includes('/')) {
        problems.push({ path, message: `"${a}" is not an IPv4 or IPv6 address (write a single address, without a prefix length)` });
        return;
      }
      const parsed = parseIp(ip.ip);
      const unusable = parsed && unusableVipReason(parsed);
      if (unusable !== undefined) {
        problems.push({ path, message: `${ip.ip} ${unusable}; it cannot be a service address` });
        return;
      }
      const prev = owners.get(ip.ip);
      if (prev !== undefined) problems.push({ path, message: `duplicate address ${ip.ip}: already used by ${prev}` });
      else owners.set(ip.ip, `services[${i}] (${s.name})`);
      addresses.push(ip.ip);
    });
    (s.nodes ?? []).forEach((n, j) => {
      if (!peerNames.has(n)) problems.push({ path: `services[${i}].nodes[${j}]`, message: `"${n}" is not a peer (cluster.peers names: ${[...peerNames].join(', ')})` });
    });
    if (s.nodes !== undefined && new Set(s.nodes).size !== s.nodes.length) {
      problems.push({ path: `services[${i}].nodes`, message: 'lists a node twice' });
    }
    const vmSetting = s.virtualMac ?? f.virtualMac ?? false;
    const vmProblem = typeof vmSetting === 'string' ? virtualMacProblem(vmSetting) : undefined;
    if (vmProblem !== undefined) problems.push({ path: `services[${i}].virtualMac`, message: `${vmProblem}; write true to derive one from the service name` });
    const virtualMac = vmProblem === undefined ? resolveVirtualMac(vmSetting, s.name) : undefined;
    services.push({ name: s.name, addresses, nodes: s.nodes ?? [...peerNames], interfaces: s.interfaces, ...(virtualMac === undefined ? {} : { virtualMac }) });
  });
  for (const c of virtualMacCollisions(services.flatMap((s) => (s.virtualMac === undefined ? [] : [{ service: s.name, mac: s.virtualMac, interfaces: s.interfaces ?? f.interfaces }])))) {
    const i = services.findIndex((s) => s.name === c.refused);
    problems.push({ path: `services[${i}].virtualMac`, message: `virtual MAC ${c.mac} is already used by service "${c.kept}" on ${c.iface === '*' ? 'the default interfaces' : c.iface}: set another MAC` });
  }
  const garp: GarpTiming = { burstMs: f.garp?.burstMs ?? DEFAULT_GARP_TIMING.burstMs, refreshMs: f.garp?.refreshMs ?? DEFAULT_GARP_TIMING.refreshMs };
  const garpProblem = checkGarpTiming(garp);
  if (garpProblem !== undefined) problems.push({ path: 'garp', message: garpProblem });
  const membership: MembershipOptions = { ...f.cluster.membership };
  try {
    resolveMembershipOptions(f.cluster.peers.length, membership);
  } catch (err) {
    const issues = (err as { issues?: { path: string; message: string }[] }).issues ?? [{ path: 'cluster.membership', message: String(err) }];
    for (const i of issues) problems.push({ path: i.path.replace(/^membership\.options/, 'cluster.membership'), message: i.message.replace(/^[^:]+: /, '') });
  }
  if (f.excludeInterfaces !== undefined) {
    try {
      compileExcludeList(f.excludeInterfaces);
    } catch (err) {
      problems.push({ path: 'excludeInterfaces', message: (err as Error).message });
    }
  }
  if (f.metrics !== undefined) {
    try {
      parseHostPort(f.metrics.listen, 'metrics.listen');
    } catch (err) {
      problems.push({ path: 'metrics.listen', message: (err as Error).message.replace(/^metrics\.listen: /, '') });
    }
  }
  if (problems.length > 0) return { problems: locate(doc, problems) };
  return {
    problems,
    config: {
      node,
      bind: f.cluster.bind,
      peers: f.cluster.peers,
      secretFile: f.cluster.secretFile,
      previousSecretFiles: f.cluster.previousSecretFiles ?? [],
      membership,
      interfaces: f.interfaces,
      excludeInterfaces: f.excludeInterfaces,
      localDelivery: f.localDelivery ?? true,
      garp,
      handoffMs: f.handoffMs ?? 150,
      holdDownMs: f.holdDownMs ?? DEFAULT_HOLD_DOWN_MS,
      metricsListen: f.metrics?.listen,
      services,
    },
  };
}

/** Minimum shared-secret length (bytes): HMAC-SHA256 keys shorter than the hash weaken it. */
export const MIN_SECRET_BYTES = 32;

/**
 * Checks a secret read from secretFile (or one of previousSecretFiles: pass its `path`); a
 * single trailing newline (echo > file) is not part of it.
 */
export function checkSecret(bytes: Uint8Array, file: string, path = 'cluster.secretFile'): { secret?: Uint8Array; problem?: ConfigProblem } {
  let b = bytes;
  if (b.length > 0 && b[b.length - 1] === 0x0a) b = b.subarray(0, b.length - 1);
  if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
  if (b.length < MIN_SECRET_BYTES) {
    return {
      problem: {
        path,
        message: `the secret in ${file} is ${b.length} bytes; at least ${MIN_SECRET_BYTES} are needed (e.g. head -c 48 /dev/urandom | base64 > ${file})`,
      },
    };
  }
  return { secret: b };
}
