/**
 * A small Kubernetes API client over node:http / node:https: what the speaker needs (lists,
 * watches, create, merge patch, delete), without @kubernetes/client-node, whose generated API
 * and model modules cost ~77 MB of memory in every speaker (docs/speaker.md). The connection
 * (server, TLS, credentials) comes from ./config.ts.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';

/** What a request needs from the connection: where, how (agent, TLS), and the current credentials. */
export interface LiteConnection {
  /** https://host:port or http://host:port, without a trailing slash (a path prefix is kept). */
  readonly server: string;
  /** Options for each request (agent, ca, cert, key, rejectUnauthorized, headers); called per request (tokens rotate). */
  requestOptions(): Promise<https.RequestOptions>;
}

/** An HTTP error from the API server: `code` is the HTTP status (as client-node's ApiException), `body` the Status. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: unknown;
  constructor(code: number, body: unknown, method: string, path: string) {
    const status = body !== null && typeof body === 'object' ? (body as { message?: unknown }).message : undefined;
    super(`${method} ${path}: ${typeof status === 'string' ? status : (http.STATUS_CODES[code] ?? 'error')}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.body = body;
  }
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface WatchEvent {
  readonly type: string;
  readonly object: unknown;
}

/** A running watch: `abort` ends it without calling `done`. */
export interface WatchHandle {
  abort(): void;
}

const MERGE_PATCH = 'application/merge-patch+json';

export interface LiteClientOptions {
  /**
   * A request (not a watch) whose connection is silent this long fails, ms. Default 60 000: an
   * API server that went away mid-request must not hold the speaker's writes for good.
   */
  readonly requestTimeoutMs?: number;
  /**
   * A watch that asked for `timeoutSeconds` and received nothing (no event, no bookmark) for
   * that long plus this fails, ms: a connection that died without a FIN or RST. Default 60 000.
   */
  readonly watchGraceMs?: number;
}

export class LiteClient {
  constructor(
    private readonly conn: LiteConnection,
    private readonly opts: LiteClientOptions = {},
  ) {}

  get server(): string {
    return this.conn.server;
  }

  async list<T extends KubernetesObject>(path: string, query: Query = {}): Promise<KubernetesListObject<T>> {
    return (await this.request('GET', path, { query })) as KubernetesListObject<T>;
  }

  async create<T>(path: string, body: unknown): Promise<T> {
    return (await this.request('POST', path, { body })) as T;
  }

  /** JSON merge patch (RFC 7386): these fields, these values, null deletes. */
  async mergePatch<T>(path: string, body: unknown): Promise<T> {
    return (await this.request('PATCH', path, { body, contentType: MERGE_PATCH })) as T;
  }

  async delete(path: string): Promise<unknown> {
    return this.request('DELETE', path, {});
  }

  /** One request; the parsed JSON response, or a KubeApiError for a status ≥ 400. */
  async request(method: string, path: string, o: { query?: Query; body?: unknown; contentType?: string }): Promise<unknown> {
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const timeoutMs = this.opts.requestTimeoutMs ?? 60_000;
    const res = await this.send(
      method,
      path,
      o.query ?? {},
      (headers) => {
        if (payload !== undefined) {
          headers['Content-Type'] = o.contentType ?? 'application/json';
          headers['Content-Length'] = String(payload.length);
        }
      },
      payload,
      (req) => req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`))),
    );
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown = text;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
    }
    const status = res.statusCode ?? 0;
    if (status >= 400 || status === 0) throw new KubeApiError(status, parsed, method, path);
    return parsed;
  }

  /**
   * A watch from `resourceVersion` with bookmarks: `onEvent` for each newline-delimited JSON
   * event (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR), `done` once when it ends: null when the
   * server closed it (a server-side timeout), the error otherwise (a KubeApiError with the
   * status when the server refused it, 410 included).
   */
  watch(path: string, query: Query, onEvent: (e: WatchEvent) => void, done: (err: unknown) => void): WatchHandle {
    let finished = false;
    let req: http.ClientRequest | undefined;
    let aborted = false;
    const finish = (err: unknown): void => {
      if (finished) return;
      finished = true;
      req?.destroy();
      if (!aborted) done(err);
    };
    const serverTimeout = Number(query.timeoutSeconds ?? 0);
    const idleMs = serverTimeout > 0 ? serverTimeout * 1000 + (this.opts.watchGraceMs ?? 60_000) : 0;
    const onRequest = (r: http.ClientRequest): void => {
      req = r;
      if (idleMs > 0) r.setTimeout(idleMs, () => finish(new Error(`watch ${path}: nothing received in ${Math.round(idleMs / 1000)} s`)));
    };
    this.send('GET', path, { ...query, watch: 1, allowWatchBookmarks: true }, () => undefined, undefined, onRequest)
      .then((res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let body: unknown = Buffer.concat(chunks).toString('utf8');
            try {
              body = JSON.parse(body as string);
            } catch {
              // keep the text
            }
            finish(new KubeApiError(status, body, 'GET', path));
          });
          res.on('error', finish);
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          let from = 0;
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n', from)) {
            const line = buf.slice(from, nl);
            from = nl + 1;
            if (line.trim() === '') continue;
            let e: WatchEvent;
            try {
              e = JSON.parse(line) as WatchEvent;
            } catch {
              continue; // as client-node: a line that is not JSON is skipped
            }
            if (!finished) onEvent(e);
          }
          buf = buf.slice(from);
        });
        res.on('end', () => finish(null));
        res.on('aborted', () => finish(new Error('watch connection aborted')));
        res.on('error', finish);
        res.on('close', () => finish(null));
      })
      .catch(finish);
    return {
      abort: () => {
        aborted = true;
        finish(null);
      },
    };
  }

  private async send(
    method: string,
    path: string,
    query: Query,
    setHeaders: (h: Record<string, string>) => void,
    payload: Buffer | undefined,
    onRequest?: (r: http.ClientRequest) => void,
  ): Promise<http.IncomingMessage> {
    const url = new URL(this.conn.server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const base = await this.conn.requestOptions();
    const headers: Record<string, string> = { Accept: 'application/json', ...(base.headers as Record<string, string> | undefined) };
    setHeaders(headers);
    const opts: https.RequestOptions = { ...base, method, headers };
    const mod = url.protocol === 'https:' ? https : http;
    const attempt = (retry: boolean): Promise<http.IncomingMessage> =>
      new Promise((resolve, reject) => {
        const req = mod.request(url, opts, resolve);
        req.on('error', (err: NodeJS.ErrnoException) => {
          // A kept-alive connection the server closed meanwhile: the request never reached it
          // (Node's documented case for request.reusedSocket); once more on a new connection.
          if (retry && req.reusedSocket && err.code === 'ECONNRESET') attempt(false).then(resolve, reject);
          else reject(err);
        });
        onRequest?.(req);
        req.end(payload);
      });
    return attempt(true);
  }
}
