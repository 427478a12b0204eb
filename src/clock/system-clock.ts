import { performance } from 'node:perf_hooks';
import type { Clock, Timer } from './clock.js';

/** The real clock: performance.now() and Node timers. Timers do not keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms): Timer {
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
};
