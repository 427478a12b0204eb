// What a failed client-node call says, reduced to what logs and retries need.

/** One line for a client-node error: HTTP status and message, or the network error. */
export function describeError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown; message?: unknown; body?: unknown };
    const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
    let msg = typeof e.message === 'string' ? e.message : JSON.stringify(err);
    if (e.body !== null && typeof e.body === 'object' && typeof (e.body as { message?: unknown }).message === 'string') {
      msg = (e.body as { message: string }).message;
    } else if (typeof e.body === 'string' && e.body.startsWith('{')) {
      try {
        const parsed = JSON.parse(e.body) as { message?: unknown };
        if (typeof parsed.message === 'string') msg = parsed.message;
      } catch {
        // keep the message
      }
    }
    // ApiException messages carry the whole response: keep the first line.
    msg = msg.split('\n')[0] ?? msg;
    return status !== undefined ? `HTTP ${status}: ${msg}` : msg;
  }
  return String(err);
}

/** HTTP status of a client-node error (ApiException.code, Watch error.statusCode), 0 if none. */
export function errorStatus(err: unknown): number {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.code === 'number') return e.code;
    if (typeof e.statusCode === 'number') return e.statusCode;
  }
  return 0;
}
