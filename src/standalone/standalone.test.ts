import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadStandaloneConfig } from './standalone.js';

const CONFIG = (secrets: string) => `
node: n1
cluster:
  bind: 192.168.77.11:7946
  peers:
    - { name: n1, address: 192.168.77.11:7946 }
    - { name: n2, address: 192.168.77.12:7946 }
${secrets}
services: []
`;

describe('loadStandaloneConfig: secrets', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l2vip-secrets-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function put(name: string, content: string, mode = 0o600): Promise<void> {
    await writeFile(join(dir, name), content);
    await chmod(join(dir, name), mode);
  }

  it('reads previousSecretFiles (relative to the config file) with the checks of secretFile', async () => {
    await put('new', `${'n'.repeat(40)}\n`);
    await put('old', 'o'.repeat(40), 0o644);
    await put('l2vip.yaml', CONFIG('  secretFile: new\n  previousSecretFiles: [old]'));
    const r = await loadStandaloneConfig(join(dir, 'l2vip.yaml'));
    expect(Buffer.from(r.secret).toString()).toBe('n'.repeat(40));
    expect(r.previousSecrets.map((s) => Buffer.from(s).toString())).toEqual(['o'.repeat(40)]);
    expect(r.config.previousSecretFiles).toEqual([join(dir, 'old')]);
    expect(r.warnings).toEqual([`the secret ${join(dir, 'old')} is readable by every user: chmod 600 it`]);
  });

  it('defaults to no previous secrets', async () => {
    await put('new', 'n'.repeat(40));
    await put('l2vip.yaml', CONFIG('  secretFile: new'));
    expect((await loadStandaloneConfig(join(dir, 'l2vip.yaml'))).previousSecrets).toEqual([]);
  });

  it('names a short or missing previous secret by its index', async () => {
    await put('new', 'n'.repeat(40));
    await put('short', 'x'.repeat(31));
    await put('l2vip.yaml', CONFIG('  secretFile: new\n  previousSecretFiles: [short, missing]'));
    const err = await loadStandaloneConfig(join(dir, 'l2vip.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/cluster\.previousSecretFiles\[0\]: the secret in .*short is 31 bytes/);
    expect((err as ConfigError).message).toMatch(/cluster\.previousSecretFiles\[1\]: cannot read .*missing: ENOENT/);
  });
});
