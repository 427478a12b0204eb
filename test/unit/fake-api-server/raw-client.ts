// A raw HTTP client for the fake API server's own tests: plain requests and watch streams read
// line by line, so the wire format itself is what the tests assert.

import { isRecord, type KubeObject } from '../../fakes/api-server/types.js';

export interface RawResponse {
  status: number;
  contentType: string | null;
  body: Record<string, unknown>;
}

export async function call(base: string, method: string, path: string, body?: unknown, contentType = 'application/json', accept = 'application/json'): Promise<RawResponse> {
  const init: RequestInit = { method, headers: { Accept: accept } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { Accept: accept, 'Content-Type': contentType };
  }
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let parsed: unknown = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body: isRecord(parsed) ? parsed : { value: parsed } };
}

export interface WireEvent {
  type: string;
  object: KubeObject & { code?: number; reason?: string; status?: unknown };
}

export interface RawWatch {
  status: number;
  events: WireEvent[];
  /** Resolves 'end' on a clean end of the body, 'error' when the connection broke. */
  done: Promise<'end' | 'error'>;
  close(): void;
}

export async function watch(base: string, path: string, accept = 'application/json'): Promise<RawWatch> {
  const ctl = new AbortController();
  const res = await fetch(`${base}${path}`, { signal: ctl.signal, headers: { Accept: accept } });
  const events: WireEvent[] = [];
  const reader = res.body?.getReader() as ReadableStreamDefaultReader<Uint8Array> | undefined;
  const decoder = new TextDecoder();
  const done = (async (): Promise<'end' | 'error'> => {
    if (reader === undefined) return 'end';
    let buf = '';
    try {
      for (;;) {
        const { value, done: finished } = await reader.read();
        if (finished) return 'end';
        buf += decoder.decode(value, { stream: true });
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== '') events.push(JSON.parse(line) as WireEvent);
          nl = buf.indexOf('\n');
        }
      }
    } catch {
      return 'error';
    }
  })();
  return { status: res.status, events, done, close: () => ctl.abort() };
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
