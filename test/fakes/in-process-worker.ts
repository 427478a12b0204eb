import { runMembershipThread, type MembershipThreadDeps } from '../../src/membership/membership-thread.js';
import type { WorkerPort } from '../../src/membership/worker-membership.js';
import type { FromWorker, ToWorker, WorkerInit } from '../../src/membership/worker-protocol.js';

export interface InProcessWorkers {
  /** WorkerMembership's `spawn`: runs the membership thread's body in this thread. */
  readonly spawn: (init: WorkerInit) => WorkerPort;
  /** Every message either way, in order (structured-cloned, as a real port would deliver them). */
  readonly log: ({ to: 'worker'; m: ToWorker } | { to: 'main'; m: FromWorker })[];
  readonly inits: WorkerInit[];
  /** Ends the worker as a crash would: its exit handler runs with `code`. */
  crash(index: number, code: number): void;
}

/**
 * The membership worker without a thread: the same body (runMembershipThread) over an
 * in-memory port, with `deps` (a MemoryTransport, a VirtualClock) per worker. Messages are
 * structured-cloned and delivered on a later turn (setImmediate), as a MessagePort does.
 */
export function inProcessWorkers(deps: (init: WorkerInit) => MembershipThreadDeps): InProcessWorkers {
  const log: InProcessWorkers['log'] = [];
  const inits: WorkerInit[] = [];
  const exits: ((code: number) => void)[] = [];
  return {
    log,
    inits,
    crash: (i, code) => exits[i]?.(code),
    spawn: (init) => {
      inits.push(init);
      let alive = true;
      const toMain: ((m: FromWorker) => void)[] = [];
      const toWorker: ((m: ToWorker) => void)[] = [];
      let onExit: ((code: number, err: Error | undefined) => void) | undefined;
      const thread = runMembershipThread(
        {
          postMessage: (m) => {
            const copy = structuredClone(m);
            log.push({ to: 'main', m: copy });
            setImmediate(() => {
              if (alive) for (const h of toMain) h(copy);
            });
          },
          onMessage: (h) => toWorker.push(h),
        },
        init,
        deps(init),
      );
      const kill = async (): Promise<void> => {
        alive = false;
        await thread.kill();
      };
      exits.push((code) => {
        void kill().then(() => onExit?.(code, undefined));
      });
      return {
        postMessage: (m) => {
          const copy = structuredClone(m);
          log.push({ to: 'worker', m: copy });
          setImmediate(() => {
            if (alive) for (const h of toWorker) h(copy);
          });
        },
        onMessage: (h) => toMain.push(h),
        onExit: (h) => (onExit = h),
        terminate: kill,
      };
    },
  };
}
