import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerConfigCheck, runConfigCheck, type ConfigCheckIo } from './config-check.js';

const GOOD = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: lan
spec:
  addresses:
  - 192.168.1.240/28
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: lan
`;

const BAD = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: lan
spec:
  addresses:
  - 192.168.1.240
  - 192.168.1.250-192.168.1.245
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: lan
spec:
  ipAddressPools: [lann]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: router
spec: {}
`;

function capture(stdin = ''): ConfigCheckIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
    readStdin: () => Promise.resolve(stdin),
  };
  return io;
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'l2vip-config-check-'));
  await writeFile(join(dir, 'good.yaml'), GOOD);
  await writeFile(join(dir, 'bad.yaml'), BAD);
  await mkdir(join(dir, 'conf.d'));
  await writeFile(join(dir, 'conf.d', 'a.yaml'), GOOD);
  await writeFile(join(dir, 'conf.d', 'notes.txt'), 'not yaml');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('l2vip config check', () => {
  it('exits 0 on a valid file and prints a summary on stderr', async () => {
    const io = capture();
    expect(await runConfigCheck([join(dir, 'good.yaml')], 'text', io)).toBe(0);
    expect(io.out).toBe('');
    expect(io.err).toBe('valid: 1 IPAddressPool, 1 L2Advertisement, 0 warnings in 1 file\n');
  });

  it('prints one line per issue with file, object, path, message and code, and exits 1', async () => {
    const io = capture();
    const file = join(dir, 'bad.yaml');
    expect(await runConfigCheck([file], 'text', io)).toBe(1);
    expect(io.out.trimEnd().split('\n')).toEqual([
      `${file}: IPAddressPool/lan: spec.addresses[0]: "192.168.1.240" has no prefix length: write "192.168.1.240/32" for this one address, or a range such as "192.168.1.240-192.168.1.240" [L2VIP_CONFIG_ADDRESS_NO_PREFIX]`,
      `${file}: IPAddressPool/lan: spec.addresses[1]: "192.168.1.250-192.168.1.245" is reversed: the start 192.168.1.250 is after the end 192.168.1.245; write "192.168.1.245-192.168.1.250" [L2VIP_CONFIG_RANGE_REVERSED]`,
      `warning: ${file}: IPAddressPool/lan: no L2Advertisement announces this pool: Services get its IPs but no node answers ARP/NDP for them; add an L2Advertisement (one with an empty spec announces every pool) [L2VIP_CONFIG_POOL_NOT_ADVERTISED]`,
      `warning: ${file}: L2Advertisement/lan: spec.ipAddressPools[0]: IPAddressPool "lann" does not exist: this entry announces nothing (did you mean "lan"?) [L2VIP_CONFIG_POOL_NOT_FOUND]`,
      `warning: ${file}: BGPPeer/router: BGPPeer is not supported by l2vip (layer 2 only): ignored [L2VIP_CONFIG_BGP_UNSUPPORTED]`,
    ]);
    expect(io.err).toBe('invalid: 2 errors, 3 warnings in 1 file\n');
  });

  it('writes JSON with positions', async () => {
    const io = capture();
    expect(await runConfigCheck([join(dir, 'bad.yaml')], 'json', io)).toBe(1);
    const parsed = JSON.parse(io.out) as { valid: boolean; errors: { line: number; path: string }[]; warnings: unknown[] };
    expect(parsed.valid).toBe(false);
    expect(parsed.errors.map((e) => [e.path, e.line])).toEqual([
      ['spec.addresses[0]', 7],
      ['spec.addresses[1]', 8],
    ]);
    expect(parsed.warnings).toHaveLength(3);
  });

  it('reads directories (YAML and JSON files only) and stdin', async () => {
    const io = capture(GOOD.replace(/lan/g, 'other').replace('192.168.1.240/28', '10.0.0.0/24'));
    expect(await runConfigCheck([join(dir, 'conf.d'), '-'], 'json', io)).toBe(0);
    const parsed = JSON.parse(io.out) as { files: string[]; pools: { name: string }[] };
    expect(parsed.files).toEqual([join(dir, 'conf.d', 'a.yaml'), '<stdin>']);
    expect(parsed.pools.map((p) => p.name)).toEqual(['lan', 'other']);
  });

  it('finds duplicates across files', async () => {
    const io = capture();
    expect(await runConfigCheck([join(dir, 'good.yaml'), join(dir, 'conf.d', 'a.yaml')], 'text', io)).toBe(1);
    expect(io.out).toContain('duplicate IPAddressPool name "lan": also defined at');
    expect(io.out).toContain('[L2VIP_CONFIG_ADDRESS_OVERLAP]');
  });

  it('exits 2 with one line when a file cannot be read', async () => {
    const io = capture();
    expect(await runConfigCheck([join(dir, 'missing.yaml')], 'text', io)).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toMatch(/^l2vip: cannot read .*missing\.yaml: ENOENT[^\n]*\n$/);
  });

  it('registers as `config check` with --output', async () => {
    const io = capture();
    const program = new Command('l2vip').exitOverride();
    registerConfigCheck(program, io);
    const before = process.exitCode;
    await program.parseAsync(['node', 'l2vip', 'config', 'check', '--output', 'json', join(dir, 'good.yaml')]);
    expect(process.exitCode).toBe(0);
    process.exitCode = before;
    expect((JSON.parse(io.out) as { valid: boolean }).valid).toBe(true);
    await expect(program.parseAsync(['node', 'l2vip', 'config', 'check', '--output', 'xml', 'x'])).rejects.toThrow(/xml/);
  });
});
