import { spawn, type ChildProcess } from 'node:child_process';
import type { Clock, Timer } from '../clock/clock.js';
import { systemClock } from '../clock/system-clock.js';
import type { Logger } from '../observability/logger.js';

/**
 * Port: tells local delivery when its nftables table may have been changed by someone else, so
 * it checks the table then instead of listing it on a short timer (a process spawn each time).
 */
export interface RulesetWatcher {
  /**
   * Starts watching. `onChange` is called, perhaps spuriously, after a change that may have
   * touched the table, and whenever events may have been missed (the watcher restarted).
   */
  start(onChange: () => void): void;
  stop(): void;
  /** True while events are being received; the owner lists the table more often when not. */
  readonly watching: boolean;
}

export interface NftMonitorOptions {
  readonly logger: Logger;
  /** `family name` of the table watched, e.g. `arp l2vip`. */
  readonly table: string;
  readonly clock?: Clock;
  /** The command run; tests replace it. Default: `nft monitor destroy`, bound to our life (see below). */
  readonly command?: readonly string[];
}

/** A monitor that dies is restarted after this long, doubling up to RESTART_MAX_MS. */
const RESTART_FIRST_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A monitor that ran this long before it died restarts after RESTART_FIRST_MS again. */
const STABLE_MS = 60_000;

/**
 * One long-lived `nft monitor destroy` child (nftables' own event stream: NFNLGRP_NFTABLES
 * notifications, printed as commands). Checked on this machine (nft 1.0.6): `nft flush ruleset`
 * prints `delete rule|set|chain|table arp l2vip ...` for every object of the table,
 * `nft delete table arp l2vip` the same, `nft flush set` one `delete element arp l2vip vips {...}`
 * per element, `nft flush chain` one `delete rule` per rule. Only deletions are watched
 * (`destroy`): they are what undoes the table; additions by others are caught by the owner's slow
 * safety listing. Output for other tables (a firewall's own rules) is read and ignored.
 *
 * The child must not outlive the speaker: after kill -9 it would hold the network namespace. It
 * is started as `setpriv --pdeathsig KILL nft ...` (util-linux; prctl PR_SET_PDEATHSIG survives
 * exec), so the kernel kills it when the speaker dies; without setpriv, nft runs directly and
 * dies at its next event (SIGPIPE).
 */
export class NftMonitor implements RulesetWatcher {
  private child: ChildProcess | undefined;
  private onChange: () => void = () => undefined;
  private stopped = true;
  private restartTimer: Timer | undefined;
  private restartMs = 0;
  private startedAt = 0;
  private pending = '';
  private direct = false;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly pattern: RegExp;

  constructor(private readonly opts: NftMonitorOptions) {
    this.log = opts.logger.child({ component: 'nft-monitor' });
    this.clock = opts.clock ?? systemClock;
    // `delete table arp l2vip`, `delete rule arp l2vip input handle 3`, ... (and `destroy ...` in case a later nft prints that).
    this.pattern = new RegExp(`^(?:delete|destroy|flush) \\w+ ${opts.table.replace(/[^\w ]/g, '\\$&')}(?:\\s|$)`, 'm');
  }

  get watching(): boolean {
    return this.child !== undefined;
  }

  start(onChange: () => void): void {
    this.onChange = onChange;
    this.stopped = false;
    this.spawn();
  }

  stop(): void {
    this.stopped = true;
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    const c = this.child;
    this.child = undefined;
    c?.kill('SIGTERM');
  }

  private command(): string[] {
    if (this.opts.command !== undefined) return [...this.opts.command];
    const nft = ['nft', 'monitor', 'destroy'];
    return this.direct ? nft : ['setpriv', '--pdeathsig', 'KILL', ...nft];
  }

  private spawn(): void {
    const [cmd, ...args] = this.command();
    if (cmd === undefined) return;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = this.clock.now();
    this.pending = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.read(chunk));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-500)));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (err.code === 'ENOENT' && cmd === 'setpriv' && !this.direct) {
        // No util-linux: nft alone (it then outlives a killed speaker until its next event).
        this.direct = true;
        this.spawn();
        return;
      }
      this.died(`${cmd}: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.died(`exited with ${signal ?? `code ${String(code)}`}${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`);
    });
  }

  private read(chunk: string): void {
    const text = this.pending + chunk;
    const end = text.lastIndexOf('\n');
    this.pending = end < 0 ? text : text.slice(end + 1);
    if (end >= 0 && this.pattern.test(text.slice(0, end))) this.onChange();
  }

  private died(reason: string): void {
    if (this.stopped) return;
    const ranMs = this.clock.now() - this.startedAt;
    this.restartMs = ranMs >= STABLE_MS || this.restartMs === 0 ? RESTART_FIRST_MS : Math.min(this.restartMs * 2, RESTART_MAX_MS);
    this.log.warn({ reason, retryMs: this.restartMs }, 'nft monitor stopped; checking the nftables table now and restarting it');
    // Events may have been missed while it was down.
    this.onChange();
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.spawn();
    }, this.restartMs);
  }
}
