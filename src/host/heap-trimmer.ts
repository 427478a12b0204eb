import { every, type Clock, type Timer } from '../clock/clock.js';

/** First trim after start-up, then one every this long. */
export const FIRST_TRIM_MS = 10_000;
export const TRIM_EVERY_MS = 300_000;

/**
 * Gives the C heap's free pages back to the kernel (malloc_trim(3), through the addon): V8 parses
 * and compiles modules in malloc'd zones, and glibc keeps what they freed resident. Once after
 * start-up and every 5 minutes (after bulk work such as a 10 000-VIP config, too): 4–7 MB of an
 * idle speaker's RSS. One call of a few hundred µs per period, on the main thread.
 *
 * The first time only, `settle` runs before the trim: V8's low-memory collections
 * (Isolate::LowMemoryNotification), which give back the young generation start-up grew to
 * 16 MB. V8 shrinks it by itself only at a collection with a low allocation rate, a minute or
 * more into an idle speaker's life, later or never for a busier one. A synchronous pause of
 * about 5 ms at an idle speaker's heap size: once, not every period, because at 10 000 VIPs the
 * heap is ten times larger and so is the pause.
 */
export class HeapTrimmer {
  private first: Timer | undefined;
  private periodic: Timer | undefined;
  /** Calls made and how many gave memory back. */
  readonly stats = { calls: 0, released: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly trim: () => boolean,
    private readonly settle: () => void = () => undefined,
  ) {}

  start(): void {
    if (this.first !== undefined || this.periodic !== undefined) return;
    this.first = this.clock.setTimeout(() => {
      this.first = undefined;
      this.settle();
      this.run();
      this.periodic = every(this.clock, TRIM_EVERY_MS, () => this.run());
    }, FIRST_TRIM_MS);
  }

  stop(): void {
    this.first?.cancel();
    this.periodic?.cancel();
    this.first = undefined;
    this.periodic = undefined;
  }

  private run(): void {
    this.stats.calls++;
    if (this.trim()) this.stats.released++;
  }
}
