/** A cancellable timer handle. */
export interface Timer {
  cancel(): void;
}

/**
 * Time as the core sees it. The pure core never calls Date.now() or setTimeout itself;
 * it gets a Clock, so tests drive it with a VirtualClock.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time). */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}

/** Repeats `fn` every `ms` on `clock` until the returned timer is cancelled. */
export function every(clock: Clock, ms: number, fn: () => void): Timer {
  let current: Timer | undefined;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    current = clock.setTimeout(tick, ms);
    fn();
  };
  current = clock.setTimeout(tick, ms);
  return {
    cancel() {
      stopped = true;
      current?.cancel();
    },
  };
}
