import { join } from 'node:path';

/** A node of a namespace lab: its name and the IPv4 address its membership binds (port 7946). */
export interface LabPeer {
  readonly name: string;
  readonly ipv4: string;
}

export interface StandaloneYamlOptions {
  readonly node: LabPeer;
  /** Every node of the cluster, this one included. */
  readonly peers: readonly LabPeer[];
  /** The directory holding the shared `secret` file. */
  readonly dir: string;
  /** `metrics.listen`; omitted: the default. */
  readonly metricsListen?: string;
  /** The `services:` entries, as YAML lines (see labService). */
  readonly services: readonly string[];
  /** More top-level YAML, appended. */
  readonly extra?: string;
}

/** One `services:` entry: `  - { name: web, addresses: ["198.51.100.200", "2001:db8::200"] }`. */
export function labService(name: string, addresses: readonly string[]): string {
  return `  - { name: ${name}, addresses: ${JSON.stringify(addresses)} }`;
}

/**
 * The `l2vip standalone` config of one node of a namespace lab (the lab, the benches and the
 * namespace tests): membership on port 7946 of every node's IPv4 address, the secret in `dir`,
 * announcing on eth0.
 */
export function standaloneYaml(o: StandaloneYamlOptions): string {
  return [
    `node: ${o.node.name}`,
    'cluster:',
    `  bind: "${o.node.ipv4}:7946"`,
    '  peers:',
    ...o.peers.map((p) => `    - { name: ${p.name}, address: "${p.ipv4}:7946" }`),
    `  secretFile: ${join(o.dir, 'secret')}`,
    'interfaces: [eth0]',
    ...(o.metricsListen !== undefined ? [`metrics: { listen: "${o.metricsListen}" }`] : []),
    'services:',
    ...o.services,
    ...(o.extra !== undefined && o.extra !== '' ? [o.extra] : []),
    '',
  ].join('\n');
}
