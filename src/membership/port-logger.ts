import type { FromWorker, WorkerLogLevel } from './worker-protocol.js';

type LogRecord = Extract<FromWorker, { t: 'log' }>;

/** pino's numeric levels (pino/lib/constants.js). */
const LEVELS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/**
 * The logger of the membership worker: the subset of pino's API the membership code uses
 * (child, the level methods, isLevelEnabled), posting each record to the main thread, whose
 * pino logger writes it (see replayLogRecord). The worker never loads pino: a second logger
 * would cost memory and a second writer on stdout. Records below the main logger's level are
 * dropped here, before any copy.
 */
export class PortLogger {
  private readonly threshold: number;

  constructor(
    private readonly post: (record: LogRecord) => void,
    readonly level: string,
    private readonly bindings: Readonly<Record<string, unknown>> = {},
  ) {
    this.threshold = LEVELS[level] ?? 30;
  }

  child(bindings: Readonly<Record<string, unknown>>): PortLogger {
    return new PortLogger(this.post, this.level, { ...this.bindings, ...bindings });
  }

  isLevelEnabled(level: string): boolean {
    return (LEVELS[level] ?? Infinity) >= this.threshold;
  }

  trace(a: unknown, b?: unknown): void {
    this.write('trace', a, b);
  }
  debug(a: unknown, b?: unknown): void {
    this.write('debug', a, b);
  }
  info(a: unknown, b?: unknown): void {
    this.write('info', a, b);
  }
  warn(a: unknown, b?: unknown): void {
    this.write('warn', a, b);
  }
  error(a: unknown, b?: unknown): void {
    this.write('error', a, b);
  }
  fatal(a: unknown, b?: unknown): void {
    this.write('fatal', a, b);
  }

  private write(level: WorkerLogLevel, a: unknown, b: unknown): void {
    if (!this.isLevelEnabled(level)) return;
    const obj = typeof a === 'object' && a !== null ? plain(a) : undefined;
    const msg = typeof a === 'string' ? a : typeof b === 'string' ? b : undefined;
    this.post({ t: 'log', level, bindings: this.bindings, obj, msg });
  }
}

/**
 * A copy that survives structured clone and reads as pino would have written it: an Error
 * becomes { type, message, code, stack } (pino's err serializer keeps such an object as is);
 * functions and symbols are left out.
 */
function plain(value: object): Record<string, unknown> {
  if (value instanceof Error) return errorRecord(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'function' || typeof v === 'symbol') continue;
    out[k] = v instanceof Error ? errorRecord(v) : v;
  }
  return out;
}

function errorRecord(err: Error): Record<string, unknown> {
  const code = (err as { code?: unknown }).code;
  const known = typeof code === 'string' || typeof code === 'number' ? { code } : {};
  return { type: err.name, message: err.message, ...known, stack: err.stack };
}

/** The part of a pino logger replayLogRecord writes to. */
export interface ReplayTarget {
  child(bindings: Record<string, unknown>): ReplayTarget;
  trace(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  fatal(obj: object, msg?: string): void;
}

/**
 * Writes a record the worker posted through the main thread's logger, as a child with the
 * record's bindings (cached per distinct bindings: the membership has two or three).
 */
export class LogReplayer {
  private readonly children = new Map<string, ReplayTarget>();

  constructor(private readonly logger: ReplayTarget) {}

  write(r: LogRecord): void {
    const key = JSON.stringify(r.bindings);
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.logger.child({ ...r.bindings });
      if (this.children.size < 64) this.children.set(key, child);
    }
    child[r.level](r.obj ?? {}, r.msg);
  }
}
