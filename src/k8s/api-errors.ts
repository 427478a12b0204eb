// What a failed API call says, reduced to what logs and retries need: client-node's errors
// (ApiException.code, its Watch's error.statusCode) and the lite client's KubeApiError (code, body:
// the Status), both with the HTTP status; network errors (ECONNREFUSED, ...) have none.

/** One line for an API error: HTTP status and the Status message, or the network error. */
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

/** HTTP status of an API error (ApiException.code, Watch error.statusCode, KubeApiError.code), 0 if none (a network error's string code is not a status). */
export function errorStatus(err: unknown): number {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.code === 'number') return e.code;
    if (typeof e.statusCode === 'number') return e.statusCode;
  }
  return 0;
}
