/**
 * Reads a child's stdout as JSON lines and lets a bench wait for the first line that matches,
 * whether it arrived before or after the wait began. Lines that are not JSON are kept as
 * `{ raw }`, so that a crash's stack trace can be shown.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export type JsonLine = Record<string, unknown>;

interface Waiter {
  readonly match: (line: JsonLine) => boolean;
  readonly resolve: (line: JsonLine) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Unclaimed lines kept for a later wait (and for error messages): the newest ones. */
const BACKLOG = 1000;

export class JsonLines {
  private readonly backlog: JsonLine[] = [];
  private readonly waiters = new Set<Waiter>();
  private ended = false;

  constructor(
    input: Readable,
    /** For messages: what the stream is, e.g. "announce (pid 123)". */
    private readonly label: string,
  ) {
    const rl = createInterface({ input });
    rl.on('line', (text) => this.push(text));
    rl.on('close', () => {
      this.ended = true;
      for (const w of [...this.waiters]) this.fail(w, `${this.label} closed its output`);
    });
  }

  /** The first unclaimed line matching `match`, or a rejection after `timeoutMs` or at the end of the stream. */
  next(match: (line: JsonLine) => boolean, timeoutMs: number, what = 'a line'): Promise<JsonLine> {
    const i = this.backlog.findIndex(match);
    if (i >= 0) return Promise.resolve(this.backlog.splice(i, 1)[0]!);
    if (this.ended) return Promise.reject(new Error(`${this.label} closed its output before ${what}${this.tail()}`));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => this.fail(w, `no ${what} from ${this.label} within ${timeoutMs} ms`), timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** The last few unclaimed lines, for an error message. */
  tail(n = 5): string {
    const lines = this.backlog.slice(-n).map((l) => (typeof l.raw === 'string' ? l.raw : JSON.stringify(l)));
    return lines.length === 0 ? '' : `; last output:\n  ${lines.join('\n  ')}`;
  }

  private push(text: string): void {
    let line: JsonLine;
    try {
      const v: unknown = JSON.parse(text);
      line = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonLine) : { raw: text };
    } catch {
      line = { raw: text };
    }
    for (const w of this.waiters) {
      if (w.match(line)) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve(line);
        return;
      }
    }
    this.backlog.push(line);
    if (this.backlog.length > BACKLOG) this.backlog.shift();
  }

  private fail(w: Waiter, message: string): void {
    clearTimeout(w.timer);
    this.waiters.delete(w);
    w.reject(new Error(message + this.tail()));
  }
}
