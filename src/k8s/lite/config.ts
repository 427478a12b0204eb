/**
 * Where the speaker's API server is and how to authenticate, without @kubernetes/client-node:
 * in-cluster (the Pod's service account) or a kubeconfig file, with the same precedence and the
 * same errors as src/k8s/kubeconfig.ts. What this does not implement (exec credential plugins,
 * auth-provider, basic auth, proxy-url) falls back to client-node's KubeConfig, imported only
 * then, which fills each request's options (that path costs client-node's memory).
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KubeconfigError } from '../../errors.js';
import type { LiteConnection } from './client.js';

export interface LiteKubeconfigSource {
  /** --kubeconfig FILE. */
  readonly file?: string;
  /** Defaults to process.env ($KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT). */
  readonly env?: NodeJS.ProcessEnv;
  /** The service account directory (tests). Default /var/run/secrets/kubernetes.io/serviceaccount. */
  readonly serviceAccountDir?: string;
  /** How long a token file read is reused, ms (bound tokens rotate; client-go re-reads each minute). Default 60 000. */
  readonly tokenRefreshMs?: number;
}

export interface LoadedLiteKubeconfig {
  readonly connection: LiteConnection;
  readonly source: string;
  readonly server: string;
  /** The context's namespace, if the kubeconfig names one. */
  readonly namespace?: string;
  /** Why client-node's KubeConfig does the authentication, when it does. */
  readonly fallback?: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** `--kubeconfig FILE`, else `$KUBECONFIG` (first existing file), else in-cluster. */
export async function loadLiteKubeconfig(src: LiteKubeconfigSource = {}): Promise<LoadedLiteKubeconfig> {
  const env = src.env ?? process.env;
  if (src.file !== undefined && src.file !== '') return fromFile(src.file, '--kubeconfig', src);
  if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') {
    const files = env.KUBECONFIG.split(':').filter((f) => f !== '');
    const file = files.find((f) => existsSync(f)) ?? files[0] ?? '';
    return fromFile(file, '$KUBECONFIG', src);
  }
  const host = env.KUBERNETES_SERVICE_HOST;
  if (host === undefined || host === '') {
    throw new KubeconfigError('no Kubernetes configuration: pass --kubeconfig FILE, set $KUBECONFIG, or run in a Pod (KUBERNETES_SERVICE_HOST is not set)');
  }
  const dir = src.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let ca: Buffer;
  try {
    ca = readFileSync(path.join(dir, 'ca.crt'));
  } catch (err) {
    throw new KubeconfigError(`in-cluster configuration: ${path.join(dir, 'ca.crt')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const tokenFile = path.join(dir, 'token');
  if (!existsSync(tokenFile)) throw new KubeconfigError(`in-cluster configuration: ${tokenFile}: no such file`);
  const agent = new https.Agent({ keepAlive: true, ca });
  const token = tokenReader(tokenFile, src.tokenRefreshMs);
  return {
    source: 'in-cluster',
    server,
    connection: { server, requestOptions: async () => ({ agent, headers: { Authorization: `Bearer ${await token()}` } }) },
  };
}

/** Reads a token file, again once `refreshMs` has passed (bound service account tokens rotate). */
function tokenReader(file: string, refreshMs = 60_000): () => Promise<string> {
  let value = '';
  let readAt = -Infinity;
  return () => {
    const now = Date.now();
    if (now - readAt >= refreshMs) {
      try {
        value = readFileSync(file, 'utf8').trim();
        readAt = now;
      } catch (err) {
        // Keep the last token if a rotation left the file missing for a moment.
        if (value === '') return Promise.reject(new KubeconfigError(`token file ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      }
    }
    return Promise.resolve(value);
  };
}

type Obj = Record<string, unknown>;

function asObj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

function str(o: Obj | undefined, key: string): string | undefined {
  const v = o?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function named(list: unknown, name: string | undefined, key: string): Obj | undefined {
  if (!Array.isArray(list) || name === undefined) return undefined;
  const entry = list.map(asObj).find((e) => e?.name === name);
  return asObj(entry?.[key]);
}

async function fromFile(file: string, how: string, src: LiteKubeconfigSource): Promise<LoadedLiteKubeconfig> {
  if (!existsSync(file)) throw new KubeconfigError(`${how} ${file}: no such file`);
  let doc: Obj | undefined;
  try {
    doc = asObj(parseYaml(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new KubeconfigError(`${how} ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const contextName = str(doc, 'current-context');
  const context = named(doc?.contexts, contextName, 'context');
  const clusterName = str(context, 'cluster');
  const cluster = named(doc?.clusters, clusterName, 'cluster');
  const serverText = str(cluster, 'server');
  if (context === undefined || cluster === undefined || serverText === undefined) throw new KubeconfigError(`${file}: no current context or cluster`);
  const server = serverText.replace(/\/+$/, '');
  const skipTLSVerify = cluster['insecure-skip-tls-verify'] === true;
  if (server.startsWith('http://') && !skipTLSVerify) {
    throw new KubeconfigError(
      `${file}: cluster "${clusterName ?? ''}" uses plain http:// (${server}); the Kubernetes client allows that only with insecure-skip-tls-verify: true`,
    );
  }
  const user = named(doc?.users, str(context, 'user'), 'user') ?? {};
  const namespace = str(context, 'namespace');
  const base = { source: file, server, ...(namespace !== undefined ? { namespace } : {}) };
  const fallback = needsFallback(cluster, user);
  if (fallback !== undefined) return { ...base, fallback, connection: await clientNodeConnection(file, server) };

  const dir = path.dirname(file);
  const readPathOrData = (o: Obj, key: string): Buffer | undefined => {
    const data = str(o, `${key}-data`);
    if (data !== undefined) return Buffer.from(data, 'base64');
    const p = str(o, key);
    if (p === undefined) return undefined;
    const abs = path.isAbsolute(p) ? p : path.join(dir, p);
    try {
      return readFileSync(abs);
    } catch (err) {
      throw new KubeconfigError(`${file}: ${key} ${abs}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  const ca = readPathOrData(cluster, 'certificate-authority');
  const cert = readPathOrData(user, 'client-certificate');
  const key = readPathOrData(user, 'client-key');
  const servername = str(cluster, 'tls-server-name');
  const agent = server.startsWith('https://')
    ? new https.Agent({
        keepAlive: true,
        ...(ca !== undefined ? { ca } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        ...(servername !== undefined ? { servername } : {}),
        ...(skipTLSVerify ? { rejectUnauthorized: false } : {}),
      })
    : new http.Agent({ keepAlive: true });
  const tokenText = str(user, 'token');
  const tokenFile = str(user, 'tokenFile');
  const token =
    tokenText !== undefined
      ? (): Promise<string> => Promise.resolve(tokenText)
      : tokenFile !== undefined
        ? tokenReader(path.isAbsolute(tokenFile) ? tokenFile : path.join(dir, tokenFile), src.tokenRefreshMs)
        : undefined;
  return {
    ...base,
    connection: {
      server,
      requestOptions: async () => ({ agent, ...(token !== undefined ? { headers: { Authorization: `Bearer ${await token()}` } } : {}) }),
    },
  };
}

/** What only client-node's KubeConfig implements: exec plugins, auth providers, basic auth, proxies, impersonation. */
function needsFallback(cluster: Obj, user: Obj): string | undefined {
  if (user.exec !== undefined && user.exec !== null) return 'exec credential plugin';
  if (user['auth-provider'] !== undefined && user['auth-provider'] !== null) return 'auth-provider';
  if (str(user, 'username') !== undefined) return 'basic authentication';
  if (str(user, 'as') !== undefined) return 'impersonation';
  if (str(cluster, 'proxy-url') !== undefined) return 'proxy-url';
  return undefined;
}

/** The connection through client-node's KubeConfig (imported only here): it fills agent and headers per request. */
async function clientNodeConnection(file: string, server: string): Promise<LiteConnection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new KubeconfigError(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return {
    server,
    requestOptions: async () => {
      const opts: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      return opts;
    },
  };
}
