import { describe, expect, it } from 'vitest';
import { checkSecret, parseStandaloneConfig } from './standalone-config.js';

const BASE = `
node: n1
cluster:
  bind: 192.168.77.11:7946
  peers:
    - { name: n1, address: 192.168.77.11:7946 }
    - { name: n2, address: 192.168.77.12:7946 }
  secretFile: /etc/l2vip/secret
interfaces: [eth0]
services:
  - name: web
    addresses: [192.168.77.200, "2001:db8::200"]
    nodes: [n1, n2]
`;

const problems = (text: string) => parseStandaloneConfig(text, 'hostname-default').problems;

describe('standalone config', () => {
  it('accepts the documented example and fills in defaults', () => {
    const { config, problems: p } = parseStandaloneConfig(BASE);
    expect(p).toEqual([]);
    expect(config).toMatchObject({
      node: 'n1',
      bind: '192.168.77.11:7946',
      secretFile: '/etc/l2vip/secret',
      previousSecretFiles: [],
      interfaces: ['eth0'],
      localDelivery: true,
      handoffMs: 150,
      services: [{ name: 'web', addresses: ['192.168.77.200', '2001:db8::200'], nodes: ['n1', 'n2'] }],
    });
    expect(config!.garp.refreshMs).toBeLessThanOrEqual(60_000);
  });

  it('defaults node to the hostname and nodes to every peer', () => {
    const text = BASE.replace('node: n1\n', '').replace('    nodes: [n1, n2]\n', '').replace(/n1/g, 'hostname-default');
    const { config } = parseStandaloneConfig(text, 'hostname-default');
    expect(config?.node).toBe('hostname-default');
    expect(config?.services[0]!.nodes).toEqual(['hostname-default', 'n2']);
  });

  it('canonicalises addresses (IPv6 per RFC 5952)', () => {
    const { config } = parseStandaloneConfig(BASE.replace('"2001:db8::200"', '"2001:DB8:0:0::200"'));
    expect(config?.services[0]!.addresses).toEqual(['192.168.77.200', '2001:db8::200']);
  });

  it.each([
    ['a duplicate address in one service', BASE.replace('[192.168.77.200, "2001:db8::200"]', '[192.168.77.200, 192.168.77.200]'), 'services[0].addresses[1]', /duplicate address 192.168.77.200/],
    [
      'a duplicate address across services',
      `${BASE}  - name: api\n    addresses: ["2001:db8:0::200"]\n`,
      'services[1].addresses[0]',
      /duplicate address 2001:db8::200: already used by services\[0\] \(web\)/,
    ],
    ['a nodes entry that is not a peer', BASE.replace('nodes: [n1, n2]', 'nodes: [n1, n9]'), 'services[0].nodes[1]', /"n9" is not a peer/],
    ['this node missing from peers', BASE.replace('node: n1', 'node: n7'), 'node', /"n7" is not in cluster.peers/],
    ['an address that is not an IP', BASE.replace('192.168.77.200,', '192.168.77.300,'), 'services[0].addresses[0]', /not an IPv4 or IPv6 address/],
    ['a CIDR instead of an address', BASE.replace('192.168.77.200,', '192.168.77.200/32,'), 'services[0].addresses[0]', /without a prefix length/],
    ['a bind that is not IP:port', BASE.replace('bind: 192.168.77.11:7946', 'bind: node1:7946'), 'cluster.bind', /not an IP:port/],
    ['a misspelt field', BASE.replace('interfaces: [eth0]', 'interface: [eth0]'), 'interface', /unknown field/],
    ['a missing secretFile', BASE.replace('  secretFile: /etc/l2vip/secret\n', ''), 'cluster.secretFile', /required/],
    ['duplicate peer names', BASE.replace('{ name: n2, address', '{ name: n1, address'), 'cluster.peers[1].name', /duplicate peer name/],
    ['invalid YAML', 'node: [', '(file)', /not valid YAML/],
    ['an invalid exclude pattern', BASE.replace('interfaces: [eth0]', 'interfaces: [eth0]\nexcludeInterfaces: ["("]'), 'excludeInterfaces', /not a valid regular expression/],
  ])('rejects %s, naming the field', (_what, text, path, message) => {
    const p = problems(text);
    expect(p.length).toBeGreaterThan(0);
    const hit = p.find((x) => x.path === path);
    expect(hit, JSON.stringify(p)).toBeDefined();
    expect(hit!.message).toMatch(message);
  });

  it('reports every problem at once', () => {
    const text = BASE.replace('nodes: [n1, n2]', 'nodes: [n8, n9]').replace('bind: 192.168.77.11:7946', 'bind: x');
    expect(problems(text).map((p) => p.path).sort()).toEqual(['cluster.bind', 'services[0].nodes[0]', 'services[0].nodes[1]']);
  });
});

describe('shared secret', () => {
  it('needs at least 32 bytes, not counting one trailing newline', () => {
    expect(checkSecret(Buffer.from('x'.repeat(31) + '\n'), '/s').problem?.message).toMatch(/31 bytes; at least 32/);
    expect(checkSecret(Buffer.from(''), '/s').problem?.path).toBe('cluster.secretFile');
    expect(checkSecret(Buffer.from('x'.repeat(32) + '\n'), '/s').secret).toHaveLength(32);
  });
});
