import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { KubeconfigError } from '../errors.js';

export { componentNamespace } from './component-namespace.js';

export interface KubeconfigSource {
  /** --kubeconfig FILE. */
  readonly file?: string;
  /** Defaults to process.env ($KUBECONFIG, KUBERNETES_SERVICE_HOST). */
  readonly env?: NodeJS.ProcessEnv;
}

/** Where the configuration was loaded from, for the start-up log line. */
export interface LoadedKubeconfig {
  readonly kubeConfig: KubeConfig;
  readonly source: string;
  readonly server: string;
}

/**
 * The client configuration, by precedence: `--kubeconfig FILE`, else `$KUBECONFIG` (the first
 * existing file of a ':'-separated list, as kubectl merges them but we read one), else the Pod's
 * service account (in-cluster). Fails early, with a catalogued error, on what client-node would
 * only report at the first request.
 */
export function loadKubeconfig(src: KubeconfigSource = {}): LoadedKubeconfig {
  const env = src.env ?? process.env;
  const kc = new KeepAliveKubeConfig();
  let source: string;
  const fromFile = (file: string, how: string): void => {
    if (!existsSync(file)) throw new KubeconfigError(`${how} ${file}: no such file`);
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new KubeconfigError(`${how} ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  if (src.file !== undefined && src.file !== '') {
    fromFile(src.file, '--kubeconfig');
    source = src.file;
  } else if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') {
    const files = env.KUBECONFIG.split(':').filter((f) => f !== '');
    const file = files.find((f) => existsSync(f)) ?? files[0] ?? '';
    fromFile(file, '$KUBECONFIG');
    source = file;
  } else {
    if (env.KUBERNETES_SERVICE_HOST === undefined || env.KUBERNETES_SERVICE_HOST === '') {
      throw new KubeconfigError(
        'no Kubernetes configuration: pass --kubeconfig FILE, set $KUBECONFIG, or run in a Pod (KUBERNETES_SERVICE_HOST is not set)',
      );
    }
    try {
      kc.loadFromCluster();
    } catch (err) {
      throw new KubeconfigError(`in-cluster configuration: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    source = 'in-cluster';
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeconfigError(`${source}: no current context or cluster`);
  // client-node refuses plain HTTP at the first request unless TLS verification is off.
  if (cluster.server.startsWith('http://') && !cluster.skipTLSVerify) {
    throw new KubeconfigError(
      `${source}: cluster "${cluster.name}" uses plain http:// (${cluster.server}); the Kubernetes client allows that only with insecure-skip-tls-verify: true`,
    );
  }
  return { kubeConfig: kc, source, server: cluster.server };
}

/** The agent options client-node sets (config.js applySecurityAuthentication): the cache key. */
const AGENT_OPTION_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

/**
 * client-node 1.4 makes a new http(s).Agent for every API request (KubeConfig.createAgent from
 * applySecurityAuthentication), so every status patch opens a new TCP connection, and a new TLS
 * handshake against a real API server: with thousands of Services that is most of the
 * controller's CPU and latency. This KubeConfig reuses one keep-alive agent per set of agent
 * options (CA, client certificate, verification, SNI), as client-go keeps its connections.
 * Proxy agents (hpagent, socks) are left as client-node makes them. Watches take another path
 * (applyToFetchOptions) and are long-lived anyway.
 */
export class KeepAliveKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, http.Agent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    if (made === undefined) return;
    const ctor = made.constructor;
    if (ctor !== http.Agent && ctor !== https.Agent) return;
    const options = (made as http.Agent & { options?: Record<string, unknown> }).options ?? {};
    const text = (v: unknown): unknown => (Buffer.isBuffer(v) ? v.toString('base64') : v);
    const key = JSON.stringify([ctor === https.Agent, ...AGENT_OPTION_KEYS.map((k) => text(options[k]))]);
    let agent = this.agents.get(key);
    if (agent === undefined) {
      const opts = Object.fromEntries(AGENT_OPTION_KEYS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
      opts.keepAlive = true;
      agent = ctor === https.Agent ? new https.Agent(opts) : new http.Agent(opts);
      this.agents.set(key, agent);
    }
    made.destroy();
    context.setAgent(agent);
  }
}
