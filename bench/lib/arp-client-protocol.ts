/**
 * The line protocol between bench/arp.ts and its measuring client (bench/lib/arp-client.ts,
 * run in the client namespace): one JSON object per line, commands on the client's stdin,
 * events on its stdout.
 */

/**
 * Request/reply latency: `count` requests per target after `warmup` per target, alternating
 * between the targets (A, B, A, B, ...) so that both see the same conditions, one at a time.
 */
export interface LatencyCommand {
  readonly cmd: 'latency';
  readonly targets: readonly string[];
  readonly count: number;
  readonly warmup: number;
  /** A request unanswered for this long counts as lost. */
  readonly timeoutMs: number;
  /** Pause between a reply (or a timeout) and the next request, so each one finds the responder idle. */
  readonly gapMs: number;
}

/** A paced flood of identical requests for one target, replies counted. */
export interface FloodCommand {
  readonly cmd: 'flood';
  readonly target: string;
  /** Requests per second, sent in batches once per millisecond. */
  readonly rate: number;
  readonly durationMs: number;
  /** How long to keep counting replies after the last request. */
  readonly drainMs: number;
}

export interface QuitCommand {
  readonly cmd: 'quit';
}

export type ClientCommand = LatencyCommand | FloodCommand | QuitCommand;

export interface ReadyEvent {
  readonly event: 'ready';
  readonly mac: string;
}

export interface LatencyEvent {
  readonly event: 'latency';
  /** target -> round-trip times in microseconds of the measured requests; null = lost. */
  readonly samples: Record<string, (number | null)[]>;
}

export interface FloodStartEvent {
  readonly event: 'flood-start';
}

export interface FloodSentEvent {
  readonly event: 'flood-sent';
  readonly sent: number;
  /** From the first to the last request, in ms. */
  readonly elapsedMs: number;
  /** The largest batch sent in one timer tick (a catch-up after the client was descheduled). */
  readonly maxBatch: number;
}

export interface FloodDoneEvent {
  readonly event: 'flood-done';
  readonly sent: number;
  readonly replies: number;
}

export interface ErrorEvent {
  readonly event: 'error';
  readonly message: string;
}

export type ClientEvent = ReadyEvent | LatencyEvent | FloodStartEvent | FloodSentEvent | FloodDoneEvent | ErrorEvent;
