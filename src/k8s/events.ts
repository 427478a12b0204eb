// Type imports only: the speaker records Events over the lite client (src/k8s/lite/), without client-node.
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import { describeError, errorStatus } from './api-errors.js';

/** The object an Event is about. */
export interface EventSubject {
  readonly kind: string;
  readonly apiVersion: string;
  readonly name: string;
  /** Omitted for cluster-scoped objects: their Events go to "default". */
  readonly namespace?: string;
  readonly uid?: string;
}

export type EventType = 'Normal' | 'Warning';

/** What the pure code asks for; the recorder writes it. */
export interface EventRecord {
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
}

/** The client-node calls behind coreEventWriter (src/k8s/events-client-node.ts). */
export type EventApi = Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;

/**
 * The writes the recorder makes (the port): client-node's CoreV1Api for the controller
 * (coreEventWriter), the lite client for the speaker (liteEventWriter), a fake in tests.
 */
export interface EventWriter {
  /** POST /api/v1/namespaces/{namespace}/events. */
  create(namespace: string, body: CoreV1Event): Promise<unknown>;
  /** PATCH .../events/{name}, Content-Type application/merge-patch+json. */
  mergePatch(namespace: string, name: string, body: { count: number; lastTimestamp: string }): Promise<unknown>;
}

export interface EventRecorderOptions {
  readonly writer: EventWriter;
  /** reportingController / source.component, e.g. "l2vip-controller". */
  readonly component: string;
  /** source.host / reportingInstance: the pod or host name. */
  readonly instance: string;
  readonly log: Logger;
  /** Called on each failed write (for a metric). */
  readonly onError?: () => void;
  readonly now?: () => Date;
  /** Aggregation entries kept; the oldest are forgotten first. Default 4096. */
  readonly cacheSize?: number;
}

interface Aggregate {
  readonly namespace: string;
  readonly name: string;
  count: number;
}

/** Kubernetes caps Event messages at 1 KiB; longer ones are rejected. */
const MAX_MESSAGE = 1024;

/**
 * Records core/v1 Events, as client-go's recorder does: one Event object per (object, type,
 * reason, message), whose `count` and `lastTimestamp` grow when the same thing happens again,
 * instead of one new object each time. Writes are queued and made one at a time, never
 * awaited by the caller; a failure is logged and counted, never thrown (Events are best
 * effort). core/v1 rather than events.k8s.io/v1: `kubectl describe` shows both, and core/v1
 * has no MicroTime field to get wrong.
 */
export class EventRecorder {
  private readonly aggregates = new Map<string, Aggregate>();
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private seq = 0;

  constructor(private readonly opts: EventRecorderOptions) {}

  record(subject: EventSubject, event: EventRecord): void {
    this.pending++;
    this.queue = this.queue
      .then(() => this.write(subject, event))
      .catch((err: unknown) => {
        this.opts.onError?.();
        this.opts.log.warn({ object: `${subject.namespace ?? ''}/${subject.name}`, event: event.reason, reason: describeError(err) }, 'event not recorded');
      })
      .finally(() => this.pending--);
  }

  /** Resolves when every Event recorded so far is written (or failed). */
  async flush(): Promise<void> {
    while (this.pending > 0) await this.queue;
  }

  private async write(subject: EventSubject, event: EventRecord): Promise<void> {
    const namespace = subject.namespace ?? 'default';
    const message = event.message.length > MAX_MESSAGE ? `${event.message.slice(0, MAX_MESSAGE - 3)}...` : event.message;
    const key = JSON.stringify([subject.kind, namespace, subject.name, subject.uid ?? '', event.type, event.reason, message]);
    const now = (this.opts.now ?? (() => new Date()))();
    const known = this.aggregates.get(key);
    if (known) {
      try {
        await this.opts.writer.mergePatch(known.namespace, known.name, { count: known.count + 1, lastTimestamp: now.toISOString() });
        known.count++;
        this.touch(key, known);
        return;
      } catch (err) {
        // Expired or deleted meanwhile: start a new Event.
        if (errorStatus(err) !== 404) throw err;
        this.aggregates.delete(key);
      }
    }
    // client-go's name: <object>.<unique hex>.
    const name = `${subject.name}.${(now.getTime() * 1000 + (this.seq++ % 1000)).toString(16)}`;
    const body: CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: {
        kind: subject.kind,
        apiVersion: subject.apiVersion,
        name: subject.name,
        ...(subject.namespace !== undefined ? { namespace: subject.namespace } : {}),
        ...(subject.uid !== undefined ? { uid: subject.uid } : {}),
      },
      type: event.type,
      reason: event.reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.opts.component, host: this.opts.instance },
      reportingComponent: this.opts.component,
      reportingInstance: this.opts.instance,
    };
    await this.opts.writer.create(namespace, body);
    this.touch(key, { namespace, name, count: 1 });
  }

  private touch(key: string, agg: Aggregate): void {
    this.aggregates.delete(key);
    this.aggregates.set(key, agg);
    const max = this.opts.cacheSize ?? 4096;
    while (this.aggregates.size > max) {
      const oldest = this.aggregates.keys().next().value;
      if (oldest === undefined) break;
      this.aggregates.delete(oldest);
    }
  }
}
