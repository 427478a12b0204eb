/**
 * MetalLB's "stale config" rule (speaker/main.go `SetConfig`): a new configuration is refused
 * while any Service this node announces has IPs that no single pool of it covers. The speaker
 * keeps the old configuration (and reports `metallb_k8s_client_config_stale_bool` 1) until the
 * controller has moved or cleared those Services' IPs, then the retry succeeds.
 */
import { poolForIps } from '../config/queries.js';
import type { Config } from '../config/types.js';

/** A Service this node announces whose IPs the new configuration would leave without a pool. */
export interface StrandedService {
  /** "namespace/name". */
  readonly service: string;
  readonly ips: readonly string[];
}

/**
 * The announced Services (name -> their announced IPs) that `config` would strand, sorted by
 * name; empty when the configuration may be applied. As in MetalLB, all of a Service's IPs must
 * fall in one pool (speaker/main.go `poolFor`).
 */
export function configWouldStrand(config: Config, announced: ReadonlyMap<string, readonly string[]>): StrandedService[] {
  const out: StrandedService[] = [];
  for (const [service, ips] of announced) {
    if (ips.length === 0) continue;
    if (poolForIps(config, ips) === undefined) out.push({ service, ips: [...ips] });
  }
  return out.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}

/** The refusal, for a log line or a status condition: says which Services block it and why. */
export function strandMessage(stranded: readonly StrandedService[]): string {
  const list = stranded.map((s) => `${s.service} (${s.ips.join(', ')})`).join('; ');
  return (
    `new configuration refused: it leaves IPs this node announces without an IPAddressPool: ${list}. ` +
    'The previous configuration stays in force until the controller has re-assigned or cleared these IPs, then the new one is applied.'
  );
}
