/**
 * keepalived (VRRP) as the lab's node software, for `l2vip lab --compare keepalived` and the
 * baseline of bench:failover and bench:loss: the same namespaces, echo service, client prober, faults and measurement as l2vip,
 * only the software that moves the VIPs differs.
 *
 * Per node: one VRRPv3 instance per VIP on eth0 (IPv4 and IPv6 need separate instances),
 * state BACKUP everywhere with `nopreempt` (a repaired node does not take the VIPs back, so a
 * trial starts from a quiet network), priorities 150, 140, ... so the first election is
 * deterministic, both instances in one sync group so the VIPs move together, as l2vip's single
 * service does (or, with `ipv6: false`, one IPv4 instance alone). VRRPv3 (RFC 5798) because sub-second `advert_int` needs it: VRRPv2 (RFC 3768)
 * counts the interval in whole seconds. keepalived adds the VIP to eth0 on the master and
 * removes it on the backups; `ip_nonlocal_bind` in each node namespace lets the echo service
 * bind to the VIP before it exists, so a new master answers as soon as the address is added
 * (no bind retry in the failover).
 *
 * Everything keepalived writes (config, pid files) is in the lab's temporary directory; it runs
 * in the node's namespace (`ip netns exec`), with `--dont-fork`, so the lab owns the process.
 */
import { spawnSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../errors.js';
import type { LabContext, NodeRunner, OwnerEvent, TimelineEvent } from './node-runner.js';
import type { LabHost } from './topology.js';

/** IP protocol 112 (IANA): VRRP, over IPv4 and IPv6; bridge-family nftables expressions. */
export const VRRP_TRAFFIC: readonly string[] = ['ip protocol 112', 'ip6 nexthdr 112'];

export interface KeepalivedOptions {
  /** VRRP advertisement interval, seconds (keepalived accepts centiseconds with VRRPv3). */
  readonly advertIntS: number;
  /**
   * Also run an IPv6 instance for the IPv6 VIP, in one sync group with the IPv4 one; otherwise
   * a single IPv4 instance, the usual keepalived setup. The group changes keepalived's behaviour
   * under loss: a backup takes over only when the master-down timers of both instances have
   * expired (keepalived's sync group waits for all its members), and the two instances' adverts
   * are lost independently, so false takeovers become far rarer than with one instance.
   */
  readonly ipv6: boolean;
  /**
   * keepalived's `use_vmac` (with `vmac_xmit_base`): each instance owns a macvlan interface
   * (`vrrp.<vrid>`) with the VRRP virtual MAC 00:00:5e:00:01:<vrid> (IPv6: 00:00:5e:00:02:<vrid>),
   * up on the master only, carrying the VIP. The comparison for l2vip's virtual MAC.
   */
  readonly useVmac?: boolean;
}

export class KeepalivedRunner implements NodeRunner {
  readonly label: string;
  readonly peerTraffic = VRRP_TRAFFIC;
  readonly servesIpv6: boolean;
  private vip4 = '';

  constructor(private readonly o: KeepalivedOptions) {
    this.label = `keepalived (advert_int ${o.advertIntS} s${o.useVmac === true ? ', use_vmac' : ''}${o.ipv6 ? '' : ', IPv4 only'})`;
    this.servesIpv6 = o.ipv6;
  }

  async prepare(ctx: LabContext): Promise<void> {
    this.vip4 = ctx.topo.vip4;
    for (const [i, n] of ctx.topo.nodes.entries()) {
      for (const key of ['net.ipv4.ip_nonlocal_bind=1', 'net.ipv6.ip_nonlocal_bind=1']) {
        const r = await ctx.runner.run('ip', ['netns', 'exec', n.netns, 'sysctl', '-q', '-w', key]);
        if (r.code !== 0) throw new LabError(`sysctl ${key} in ${n.netns}: ${r.stderr.trim()}`);
      }
      await writeFile(join(ctx.dir, `${n.name}.keepalived.conf`), this.config(ctx, n, 150 - 10 * i));
    }
  }

  config(ctx: LabContext, n: LabHost, priority: number): string {
    const instance = (name: string, vrid: number, vip: string): string[] => [
      `vrrp_instance ${name} {`,
      '  state BACKUP',
      '  nopreempt',
      '  interface eth0',
      `  virtual_router_id ${vrid}`,
      `  priority ${priority}`,
      `  advert_int ${this.o.advertIntS}`,
      ...(this.o.useVmac === true ? ['  use_vmac', '  vmac_xmit_base'] : []),
      `  virtual_ipaddress {`,
      this.o.useVmac === true ? `    ${vip}` : `    ${vip} dev eth0`,
      '  }',
      '}',
    ];
    return [
      'global_defs {',
      `  router_id ${n.name}`,
      '  vrrp_version 3',
      '}',
      ...(this.o.ipv6 ? ['vrrp_sync_group VIPS {', '  group { VI_4 VI_6 }', '}'] : []),
      ...instance('VI_4', 51, `${ctx.topo.vip4}/24`),
      ...(this.o.ipv6 ? instance('VI_6', 52, `${ctx.topo.vip6}/64`) : []),
      '',
    ].join('\n');
  }

  command(ctx: LabContext, n: LabHost): string[] {
    const file = (suffix: string): string => join(ctx.dir, `${n.name}.${suffix}`);
    return [
      'keepalived',
      '--dont-fork',
      '--log-console',
      '--no-syslog',
      // Detail: the advert timeouts and gratuitous ARPs the report's timeline shows.
      '--log-detail',
      '--vrrp',
      '--use-file',
      file('keepalived.conf'),
      '--pid',
      file('keepalived.pid'),
      '--vrrp_pid',
      file('vrrp.pid'),
    ];
  }

  /**
   * A killed keepalived leaves its VIPs on eth0 and its pid files (whose VRRP child may still be
   * an unreaped zombie, which keepalived takes for a running daemon); a rebooted host would
   * have neither.
   */
  async beforeRestart(ctx: LabContext, n: LabHost): Promise<void> {
    for (const f of ['keepalived.pid', 'vrrp.pid']) await rm(join(ctx.dir, `${n.name}.${f}`), { force: true });
    await ctx.runner.run('ip', ['-n', n.netns, 'address', 'del', `${ctx.topo.vip4}/24`, 'dev', 'eth0']);
    if (this.o.ipv6) await ctx.runner.run('ip', ['-n', n.netns, 'address', 'del', `${ctx.topo.vip6}/64`, 'dev', 'eth0']);
    // use_vmac: the macvlan interfaces (with the VIPs) a killed keepalived leaves.
    if (this.o.useVmac === true) for (const dev of ['vrrp.51', 'vrrp.52']) await ctx.runner.run('ip', ['-n', n.netns, 'link', 'del', dev]);
  }

  isReady(line: string): boolean {
    return /Entering (BACKUP|MASTER) STATE/.test(line);
  }

  /**
   * The IPv4 instance's state changes (`(VI_4) Entering MASTER STATE`): the sync group moves the
   * IPv6 instance with it, so one line per takeover, as l2vip logs one per service. keepalived's
   * console lines carry no milliseconds: the time is when the lab read the line.
   */
  ownerEvent(line: string, _n: LabHost, receivedAt: number): OwnerEvent | undefined {
    const m = /\(VI_4\) Entering (MASTER|BACKUP|FAULT) STATE/.exec(line);
    if (m === null || line.includes('(init)')) return undefined;
    return { at: receivedAt, gained: m[1] === 'MASTER' };
  }

  /**
   * The IPv4 instance's steps: `Receive advertisement timeout` (a backup's master-down timer
   * expired: the master is taken for dead), `Entering MASTER STATE` (this node elected itself),
   * and `Sending/queueing gratuitous ARPs` (its first gratuitous ARPs as the new master).
   */
  timelineEvent(line: string, n: LabHost, receivedAt: number): TimelineEvent | undefined {
    if (!line.includes('(VI_4)')) return undefined;
    if (line.includes('Receive advertisement timeout')) return { at: receivedAt, kind: 'dead', subject: 'master' };
    if (/Entering MASTER STATE/.test(line)) return { at: receivedAt, kind: 'elected', subject: n.name };
    if (line.includes('Sending/queueing gratuitous ARPs')) return { at: receivedAt, kind: 'garp', subject: this.vip4 };
    return undefined;
  }
}

/** keepalived's version line (it prints it on stderr), or undefined when it is not installed. */
export function keepalivedVersion(): string | undefined {
  const r = spawnSync('keepalived', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined) return undefined;
  return `${r.stderr}\n${r.stdout}`.split('\n').find((l) => /keepalived v/i.test(l))?.trim() ?? 'keepalived (version unknown)';
}
