import type { CommandRunner } from '../host/command-runner.js';
import type { LabHost, LabTopology } from './topology.js';

/** What a node runner may use: the lab's plan, its temporary directory, and host commands. */
export interface LabContext {
  readonly topo: LabTopology;
  /** The lab's temporary directory: configs, logs, pid files; removed with the lab. */
  readonly dir: string;
  readonly runner: CommandRunner;
}

/** A line of a node's log that says who owns the VIPs. */
export interface OwnerEvent {
  /** When it happened, ms since the epoch. */
  readonly at: number;
  /** True when this node took a VIP over; false when it only saw another node take it. */
  readonly gained: boolean;
}

/**
 * A membership or ownership step a node logged, for the report's timeline:
 * - `suspect`: it suspects `subject` (a peer stopped answering; l2vip only, at log level debug);
 * - `dead`: it declared `subject` dead (keepalived: its master-down timer expired);
 * - `elected`: it saw `subject` become the owner (keepalived: it became master itself);
 * - `garp`: it sent its first gratuitous announcement for `subject` (a VIP).
 */
export interface TimelineEvent {
  /** When it happened, ms since the epoch. */
  readonly at: number;
  readonly kind: 'suspect' | 'dead' | 'elected' | 'garp';
  readonly subject: string;
}

/**
 * The software that keeps the VIPs on the lab's nodes (l2vip standalone, keepalived, ...): the
 * lab builds the network, runs `command` in every node's namespace next to the echo service,
 * fails and restores nodes, and measures; the runner only says how to configure and start its
 * software, which traffic its nodes exchange, and how to read its logs.
 */
export interface NodeRunner {
  /** Names the software and its settings in reports: `l2vip`, `keepalived (advert_int 0.1 s)`. */
  readonly label: string;
  /**
   * nftables expressions (bridge family), one rule each, selecting the traffic between the
   * nodes: where the lab's loss injection applies.
   */
  readonly peerTraffic: readonly string[];
  /** False when it keeps only the IPv4 VIP: the lab then waits for and judges IPv4 alone. Default true. */
  readonly servesIpv6?: boolean;
  /** Once, after the namespaces exist and before any node starts: configuration files, sysctls. */
  prepare(ctx: LabContext): Promise<void>;
  /**
   * The command run in the node's namespace (through `ip netns exec`), stdout and stderr to
   * `<dir>/<node>.log`. SIGTERM to it must be a planned shutdown (the lab's `stop` fault).
   */
  command(ctx: LabContext, node: LabHost): string[];
  /** Before a killed node starts again: undo what a reboot would (addresses left on eth0). */
  beforeRestart?(ctx: LabContext, node: LabHost): Promise<void>;
  /** At teardown, after every process is killed (synchronous: it also runs in exit handlers). */
  cleanupSync?(ctx: LabContext): void;
  /** Whether a line of the node's output says it is up and talking to its peers. */
  isReady(line: string): boolean;
  /** Reads one line of the node's output; `receivedAt` is when the lab read it. */
  ownerEvent(line: string, node: LabHost, receivedAt: number): OwnerEvent | undefined;
  /** Reads one line of the node's output for the report's timeline. */
  timelineEvent?(line: string, node: LabHost, receivedAt: number): TimelineEvent | undefined;
}
