import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { checkSecret, parseStandaloneConfig, standaloneConfigError } from './standalone-config.js';

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

  it('takes cluster.membership.mainLoopTimeoutMs (the worker thread\'s bound on a hung main loop) and checks its range', () => {
    const withTimeout = (ms: number): string => BASE.replace('  secretFile: /etc/l2vip/secret\n', `  secretFile: /etc/l2vip/secret\n  membership: { mainLoopTimeoutMs: ${ms} }\n`);
    expect(parseStandaloneConfig(withTimeout(5000)).config?.membership).toEqual({ mainLoopTimeoutMs: 5000 });
    expect(problems(withTimeout(100))).toEqual([expect.objectContaining({ path: 'cluster.membership.mainLoopTimeoutMs', message: expect.stringMatching(/500\.\.60000/) as unknown })]);
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

  it.each([
    ['0.0.0.0', /unspecified/],
    ['255.255.255.255', /broadcast/],
    ['224.0.0.5', /multicast/],
    ['127.0.0.1', /loopback/],
    ['169.254.10.10', /link-local/],
    ['"::"', /unspecified/],
    ['"::1"', /loopback/],
    ['"ff02::1"', /multicast/],
    ['"fe80::10"', /link-local/],
  ])('refuses %s as a service address, with the field path', (addr, why) => {
    const p = problems(BASE.replace('[192.168.77.200, "2001:db8::200"]', `[192.168.77.200, ${addr}]`));
    expect(p).toHaveLength(1);
    expect(p[0]?.path).toBe('services[0].addresses[1]');
    expect(p[0]?.message).toMatch(why);
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

describe('standalone config problems: where they are', () => {
  // BASE starts with an empty line: `node:` is line 2, `interfaces:` line 9, the addresses line 12, the last line 13.
  const line = (text: string, path: string) => problems(text).find((p) => p.path === path)?.line;

  it('gives schema problems the line of the field, with the config module\'s advice', () => {
    const p = problems(BASE.replace('interfaces: [eth0]', 'interface: [eth0]'));
    expect(p).toEqual([{ path: 'interface', message: 'unknown field "interface" in the object: did you mean "interfaces"?', line: 9, column: 12 }]);
    expect(line(BASE.replace('interfaces: [eth0]', 'interfaces: [eth0]\nhandoffMs: "fast"'), 'handoffMs')).toBe(10);
  });

  it('gives checks after the schema the line of the field too', () => {
    const text = BASE.replace('[192.168.77.200, "2001:db8::200"]', '[192.168.77.200, 192.168.77.200]');
    expect(problems(text)).toEqual([{ path: 'services[0].addresses[1]', message: expect.stringMatching(/duplicate address/) as unknown, line: 12, column: 33 }]);
    expect(line(BASE.replace('bind: 192.168.77.11:7946', 'bind: node1:7946'), 'cluster.bind')).toBe(4);
    expect(line(BASE.replace('{ name: n2, address', '{ name: n1, address'), 'cluster.peers[1].name')).toBe(7);
  });

  it('points a missing field at its parent', () => {
    expect(line(BASE.replace('  secretFile: /etc/l2vip/secret\n', ''), 'cluster.secretFile')).toBe(4);
  });

  it('gives YAML syntax errors their line', () => {
    const p = problems('node: n1\ncluster:\n  bind: [\n');
    expect(p[0]).toMatchObject({ path: '(file)', message: expect.stringMatching(/^not valid YAML: /) as unknown });
    expect(p[0]!.line).toBeGreaterThanOrEqual(3);
    expect(problems('node: n1\nnode: n2\n')[0]).toMatchObject({ path: '(file)', line: 2, message: expect.stringMatching(/unique/) as unknown });
  });

  it('refuses an empty file and a file of several documents', () => {
    expect(problems('')).toEqual([{ path: '(file)', message: expect.stringMatching(/^is empty/) as unknown }]);
    expect(problems(`${BASE}---\n${BASE}`)).toEqual([{ path: '(file)', message: expect.stringMatching(/more than one YAML document/) as unknown, line: 16, column: 1 }]);
  });

  it('reads YAML 1.2 scalars: yes is a string, not a boolean', () => {
    expect(problems(`${BASE}localDelivery: yes\n`)).toEqual([
      { path: 'localDelivery', message: 'must be true or false, not the string "yes" (write true or false without quotes)', line: 14, column: 16 },
    ]);
  });

  it('formats each problem as FILE:LINE: PATH: MESSAGE in one ConfigError', () => {
    const text = BASE.replace('nodes: [n1, n2]', 'nodes: [n1, n9]').replace('bind: 192.168.77.11:7946', 'bind: x');
    const err = standaloneConfigError('/etc/l2vip/l2vip.yaml', problems(text));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      '2 problems in /etc/l2vip/l2vip.yaml:\n' +
        '  /etc/l2vip/l2vip.yaml:4: cluster.bind: "x" is not an IP:port address (write 192.0.2.1:7946 or [2001:db8::1]:7946)\n' +
        '  /etc/l2vip/l2vip.yaml:13: services[0].nodes[1]: "n9" is not a peer (cluster.peers names: n1, n2)',
    );
    expect(standaloneConfigError('f.yaml', [{ path: 'cluster.secretFile', message: 'cannot read /s: ENOENT' }]).message).toBe('f.yaml: cluster.secretFile: cannot read /s: ENOENT');
    expect(err.issues).toHaveLength(2);
  });
});
