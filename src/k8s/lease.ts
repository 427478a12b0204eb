import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Clock, Timer } from '../clock/clock.js';
import type { Logger } from '../observability/logger.js';
import { describeError, errorStatus } from './api-errors.js';

/** The Lease calls the elector makes: CoordinationV1Api in production, a fake in tests. */
export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

export interface LeaseElectorOptions {
  readonly api: LeaseApi;
  readonly namespace: string;
  readonly name: string;
  /** holderIdentity: the pod name, else the host name. Must differ between replicas. */
  readonly identity: string;
  /** Seconds a standby waits without seeing a renewal before taking over. Default 15. */
  readonly leaseDurationSeconds?: number;
  /** The leader steps down when it could not renew for this long, ms. Default 2/3 of the lease. */
  readonly renewDeadlineMs?: number;
  /** Time between attempts, ms. Default lease/7.5 (2 s for 15 s, as client-go's 15/10/2). */
  readonly retryPeriodMs?: number;
  readonly clock: Clock;
  /** Wall time for acquireTime/renewTime. Default Date.now. */
  readonly wallNow?: () => number;
  readonly log: Logger;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
}

/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does:
 * - every retry period, read the Lease; create it if missing; take it if it is free (no holder)
 *   or if its record (holder, renewTime) has not changed for leaseDurationSeconds *by the local
 *   clock*, so clocks of different nodes never need to agree; renew it if we hold it;
 * - writes are replace calls carrying the read resourceVersion, so of two candidates racing for
 *   an expired Lease exactly one wins (the other gets 409 Conflict);
 * - a leader that cannot renew within the renew deadline stops leading (before a standby can
 *   take over, since the deadline is shorter than the lease);
 * - stop() releases the Lease (empty holder), so a standby takes over at its next attempt.
 * renewTime and acquireTime are MicroTime: six fractional digits on the wire (V1MicroTime).
 */
export class LeaseElector {
  private leading = false;
  private running = false;
  private timer: Timer | undefined;
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;
  private attempt: Promise<void> = Promise.resolve();
  private readonly durationS: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;

  constructor(private readonly opts: LeaseElectorOptions) {
    this.durationS = opts.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? (this.durationS * 1000 * 2) / 3;
    this.retryMs = opts.retryPeriodMs ?? (this.durationS * 1000) / 7.5;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops trying; a leader releases the Lease and calls onStoppedLeading. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.attempt;
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.opts.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace });
      if (lease.spec?.holderIdentity === this.opts.identity) {
        lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1 };
        await this.opts.api.replaceNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace, body: lease });
        this.opts.log.info({ lease: this.opts.name }, 'lease released');
      }
    } catch (err) {
      this.opts.log.warn({ lease: this.opts.name, reason: describeError(err) }, 'could not release the lease; a standby takes over when it expires');
    }
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      this.attempt = this.tryAcquireOrRenew().then(
        () => this.schedule(this.retryMs),
        () => this.schedule(this.retryMs),
      );
    }, ms);
  }

  private microNow(): V1MicroTime {
    return new V1MicroTime((this.opts.wallNow ?? Date.now)());
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { api, name, namespace, identity, clock, log } = this.opts;
    const now = clock.now();
    let ok = false;
    try {
      let lease: V1Lease | undefined;
      try {
        lease = await api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (errorStatus(err) !== 404) throw err;
      }
      if (!this.running) return;
      if (!lease) {
        const t = this.microNow();
        await api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds: this.durationS, acquireTime: t, renewTime: t, leaseTransitions: 0 },
          },
        });
        ok = true;
      } else {
        const spec = lease.spec ?? {};
        const holder = spec.holderIdentity ?? '';
        const record = JSON.stringify([holder, String(spec.renewTime ?? ''), spec.leaseDurationSeconds ?? 0]);
        if (this.observed?.record !== record) this.observed = { record, at: now };
        const heldByOther = holder !== '' && holder !== identity;
        const otherDuration = (spec.leaseDurationSeconds ?? this.durationS) * 1000;
        if (heldByOther && now - this.observed.at < otherDuration) {
          ok = false;
        } else {
          const t = this.microNow();
          const mine = holder === identity;
          lease.spec = {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds: this.durationS,
            renewTime: t,
            ...(mine ? {} : { acquireTime: t, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
          };
          await api.replaceNamespacedLease({ name, namespace, body: lease });
          ok = true;
          if (!mine) log.info({ lease: name, previous: holder || undefined }, 'lease acquired');
        }
      }
    } catch (err) {
      const status = errorStatus(err);
      // 409: another candidate wrote first; not worth a warning.
      if (status === 409) log.debug({ lease: name }, 'lease update conflict');
      else log.warn({ lease: name, reason: describeError(err) }, 'lease attempt failed');
    }
    if (!this.running) return;
    if (ok) {
      this.lastRenew = now;
      if (!this.leading) this.setLeading(true);
    } else if (this.leading && (now - this.lastRenew >= this.renewDeadlineMs || !(await this.stillOurs()))) {
      log.warn({ lease: name }, 'lost the lease');
      this.setLeading(false);
    }
  }

  /** After a failed renewal: is the Lease someone else's already? (Only a read; errors mean "maybe".) */
  private async stillOurs(): Promise<boolean> {
    try {
      const lease = await this.opts.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace });
      const holder = lease.spec?.holderIdentity ?? '';
      return holder === '' || holder === this.opts.identity;
    } catch {
      return true;
    }
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    if (leading) this.opts.onStartedLeading();
    else this.opts.onStoppedLeading();
  }
}
