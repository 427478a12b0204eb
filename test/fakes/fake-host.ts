import type { CommandResult, CommandRunner } from '../../src/host/command-runner.js';
import type { InterfaceSysctl, SysctlPort } from '../../src/delivery/host-state.js';

/**
 * An in-memory host for local-delivery tests: the table `local` routes, interface addresses,
 * the `arp l2vip` nftables table and per-interface sysctls, driven through the same `ip` and
 * `nft` command lines the real host gets. `failLine` makes single batch lines fail, as the
 * kernel does (`ip -force -batch` goes on and exits 1).
 */
export class FakeHost implements CommandRunner {
  /** table local: dst -> protocol ("kernel", "250", ...). */
  readonly routes = new Map<string, string>();
  /** address -> device. */
  readonly addresses = new Map<string, string>();
  /** The nftables set `arp l2vip vips`, undefined when the table does not exist. */
  nftVips: Set<string> | undefined;
  /** True after `nft flush chain arp l2vip input`: the table and set are there, the drop rules gone. */
  nftRulesFlushed = false;
  readonly sysctls = new Map<string, string>();
  readonly calls: string[] = [];
  failLine: (line: string) => boolean = () => false;
  failNft = false;

  /** A host address: its kernel local route comes with it, as in Linux. */
  addAddress(ip: string, dev: string): void {
    this.addresses.set(ip, dev);
    if (!ip.includes(':')) this.routes.set(ip, 'kernel');
  }

  readonly sysctl: SysctlPort = {
    read: (iface: string, name: InterfaceSysctl) => Promise.resolve(this.sysctls.get(`${iface}.${name}`)),
    write: (iface: string, name: InterfaceSysctl, value: string) => {
      this.sysctls.set(`${iface}.${name}`, value);
      return Promise.resolve();
    },
  };

  run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
    this.calls.push([cmd, ...args].join(' ') + (input ? `\n${input}` : ''));
    return Promise.resolve(cmd === 'ip' ? this.ip(args, input ?? '') : this.nft(args, input ?? ''));
  }

  private ip(args: readonly string[], input: string): CommandResult {
    const a = args.join(' ');
    if (a === '-force -batch -') {
      let failed = '';
      for (const line of input.split('\n').filter((l) => l !== '')) {
        const err = this.failLine(line) ? 'RTNETLINK answers: Operation not permitted' : this.ipLine(line);
        if (err !== undefined) failed += `${err}\nCommand failed -:1\n`;
      }
      return { code: failed === '' ? 0 : 1, stdout: '', stderr: failed };
    }
    if (a.startsWith('-j -4 route show table local')) {
      const onlyOurs = a.endsWith('proto 250');
      const out = [...this.routes].filter(([, p]) => !onlyOurs || p === '250').map(([dst, protocol]) => (onlyOurs ? { type: 'local', dst } : { type: 'local', dst, protocol }));
      return ok(JSON.stringify(out));
    }
    const show = /^-j(?: -6)? address show(?: dev (\S+))?$/.exec(a);
    if (show) {
      const v6only = a.includes('-6');
      const devs = new Map<string, { local: string }[]>();
      for (const [ip, dev] of this.addresses) {
        if ((v6only && !ip.includes(':')) || (show[1] !== undefined && dev !== show[1])) continue;
        devs.set(dev, [...(devs.get(dev) ?? []), { local: ip }]);
      }
      return ok(JSON.stringify([...devs].map(([ifname, addr_info]) => ({ ifname, addr_info }))));
    }
    return { code: 1, stdout: '', stderr: `fake ip: unknown command ${a}` };
  }

  /** One batch line; an error text if the kernel would refuse it. */
  private ipLine(line: string): string | undefined {
    let m = /^route add local (\S+)\/32 dev lo table local proto 250 scope host$/.exec(line);
    if (m?.[1] !== undefined) {
      if (this.routes.has(m[1])) return 'RTNETLINK answers: File exists';
      this.routes.set(m[1], '250');
      return undefined;
    }
    m = /^route del local (\S+)\/32 dev lo table local proto 250$/.exec(line);
    if (m?.[1] !== undefined) {
      if (this.routes.get(m[1]) !== '250') return 'RTNETLINK answers: No such process';
      this.routes.delete(m[1]);
      return undefined;
    }
    if (line === 'route flush table local proto 250') {
      for (const [dst, p] of this.routes) if (p === '250') this.routes.delete(dst);
      return undefined;
    }
    m = /^address add (\S+)\/128 dev lo nodad preferred_lft 0$/.exec(line);
    if (m?.[1] !== undefined) {
      if (this.addresses.has(m[1])) return 'RTNETLINK answers: File exists';
      this.addresses.set(m[1], 'lo');
      return undefined;
    }
    m = /^address del (\S+)\/128 dev lo$/.exec(line);
    if (m?.[1] !== undefined) {
      if (this.addresses.get(m[1]) !== 'lo') return 'RTNETLINK answers: Cannot assign requested address';
      this.addresses.delete(m[1]);
      return undefined;
    }
    return `fake ip: unknown line ${line}`;
  }

  private nft(args: readonly string[], input: string): CommandResult {
    const a = args.join(' ');
    if (a === 'delete table arp l2vip') {
      if (this.nftVips === undefined) return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
      this.nftVips = undefined;
      return ok('');
    }
    if (a === 'list table arp l2vip') {
      if (this.nftVips === undefined) return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
      const els = [...this.nftVips];
      const rules = this.nftRulesFlushed ? '' : '\t\tarp operation request arp daddr ip @vips drop\n\t\tarp saddr ip @vips drop\n';
      return ok(
        `table arp l2vip {\n\tset vips {\n\t\ttype ipv4_addr\n${els.length > 0 ? `\t\telements = { ${els.join(', ')} }\n` : ''}\t}\n\n` +
          `\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n${rules}\t}\n}\n`,
      );
    }
    if (a === '-f -') {
      if (this.failNft) return { code: 1, stdout: '', stderr: 'Error: Could not process rule: Operation not supported' };
      // One transaction: work on a copy.
      let vips = this.nftVips === undefined ? undefined : new Set(this.nftVips);
      for (const line of input.split('\n')) {
        if (/^table arp l2vip \{/.test(line)) vips ??= new Set();
        else if (line === 'delete table arp l2vip') vips = undefined;
        const el = /^(add|delete) element arp l2vip vips \{ (.*) \}$/.exec(line);
        if (el?.[2] !== undefined) {
          if (vips === undefined) return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
          for (const ip of el[2].split(', ')) {
            if (el[1] === 'add') vips.add(ip);
            else vips.delete(ip);
          }
        }
      }
      this.nftVips = vips;
      if (input.includes('chain input {')) this.nftRulesFlushed = false;
      return ok('');
    }
    return { code: 1, stdout: '', stderr: `fake nft: unknown command ${a}` };
  }
}

function ok(stdout: string): CommandResult {
  return { code: 0, stdout, stderr: '' };
}
