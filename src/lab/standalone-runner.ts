import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabContext, NodeRunner, OwnerEvent, TimelineEvent } from './node-runner.js';
import { MEMBERSHIP_TRAFFIC, type LabHost } from './topology.js';
import { labService, standaloneYaml } from './standalone-yaml.js';

/** How to run this same l2vip: the built CLI, or the TypeScript sources through tsx; with the node flags of bin/l2vip.js. */
export function selfCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const root = join(here, '..', '..', '..');
  if (here.endsWith('.ts')) return [process.execPath, ...binNodeFlags(), '--import', 'tsx', join(root, 'src', 'cli', 'main.ts')];
  return [process.execPath, ...binNodeFlags(), join(root, 'bin', 'l2vip.js')];
}

/**
 * The node flags on the `#!/usr/bin/env -S node ...` line of bin/l2vip.js, so that a speaker
 * started as `node bin/l2vip.js` (lab, benches, tests) runs as `l2vip` / `npx l2vip` does.
 */
export function binNodeFlags(): string[] {
  const bin = fileURLToPath(new URL('../../bin/l2vip.js', import.meta.url));
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\S*env -S node((?: --[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  return m?.[1]?.trim().split(/\s+/).filter((x) => x !== '') ?? [];
}

/** LocalDelivery's default state directory. */
const DELIVERY_STATE_DIR = '/run/l2vip';

/** `l2vip standalone` on every node: one service with both VIPs, every node a candidate, default timing. */
export class StandaloneRunner implements NodeRunner {
  readonly label: string;
  readonly peerTraffic = MEMBERSHIP_TRAFFIC;
  private readonly cmd = selfCommand();
  private stateFiles: string[] = [];

  /**
   * `extraConfig`: YAML appended to every node's config (e.g. membership timing). `logLevel`:
   * the speakers' (`debug` adds the suspicions, which the report's timeline shows).
   */
  constructor(
    private readonly extraConfig = '',
    private readonly logLevel = 'info',
    label = 'l2vip',
  ) {
    this.label = label;
  }

  async prepare(ctx: LabContext): Promise<void> {
    await writeFile(join(ctx.dir, 'secret'), randomBytes(48).toString('base64') + '\n', { mode: 0o600 });
    for (const n of ctx.topo.nodes) await writeFile(join(ctx.dir, `${n.name}.yaml`), this.config(ctx, n));
    // Local delivery's crash-recovery file, one per network namespace (named after its inode, see
    // src/delivery/local-delivery.ts): a killed speaker leaves it, and its namespace is gone with the lab.
    this.stateFiles = ctx.topo.nodes.map((n) => join(DELIVERY_STATE_DIR, `delivery-${statSync(join('/run/netns', n.netns)).ino}.json`));
  }

  cleanupSync(): void {
    for (const f of this.stateFiles) {
      rmSync(f, { force: true });
      rmSync(f.replace(/\.json$/, '.pid'), { force: true });
    }
  }

  /** The node's standalone config. */
  config(ctx: LabContext, n: LabHost): string {
    return standaloneYaml({
      node: n,
      peers: ctx.topo.nodes,
      dir: ctx.dir,
      // Each node has its own namespace, so the default port of `l2vip status` works in every one.
      metricsListen: '127.0.0.1:7472',
      services: [labService('web', [ctx.topo.vip4, ctx.topo.vip6])],
      extra: this.extraConfig,
    });
  }

  command(ctx: LabContext, n: LabHost): string[] {
    return [...this.cmd, 'standalone', '--config', join(ctx.dir, `${n.name}.yaml`), '--log-level', this.logLevel];
  }

  isReady(line: string): boolean {
    return line.includes('"standalone speaker started"');
  }

  /** The speaker's `owner elected` lines (pino JSON: `time` in ms, `owner` the elected node). */
  ownerEvent(line: string, n: LabHost): OwnerEvent | undefined {
    if (!line.includes('"owner elected"')) return undefined;
    try {
      const l = JSON.parse(line) as { msg?: unknown; time?: unknown; owner?: unknown };
      if (l.msg !== 'owner elected' || typeof l.time !== 'number') return undefined;
      return { at: l.time, gained: l.owner === n.name };
    } catch {
      return undefined;
    }
  }

  /**
   * The speaker's lines about membership and ownership: `member state changed` to suspect or
   * dead (the suspicion only at log level debug), `owner elected`, and `announcing` (the
   * announcer sends the first gratuitous announcement of the IP as it logs this line).
   */
  timelineEvent(line: string): TimelineEvent | undefined {
    if (!/"msg":"(member state changed|owner elected|announcing)"/.test(line)) return undefined;
    let l: { msg?: unknown; time?: unknown; node?: unknown; state?: unknown; owner?: unknown; ip?: unknown };
    try {
      l = JSON.parse(line) as typeof l;
    } catch {
      return undefined;
    }
    if (typeof l.time !== 'number') return undefined;
    if (l.msg === 'member state changed' && (l.state === 'suspect' || l.state === 'dead') && typeof l.node === 'string') return { at: l.time, kind: l.state, subject: l.node };
    if (l.msg === 'owner elected' && typeof l.owner === 'string') return { at: l.time, kind: 'elected', subject: l.owner };
    if (l.msg === 'announcing' && typeof l.ip === 'string') return { at: l.time, kind: 'garp', subject: l.ip };
    return undefined;
  }
}
