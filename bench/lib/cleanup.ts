/**
 * Last-resort cleanup for benches that create system state (namespaces, child processes): the
 * registered functions run once, newest first, on normal exit and on SIGINT/SIGTERM/SIGHUP, so
 * an interrupted run leaves nothing behind. Code that cleans up in its own `finally` should
 * still do so and then unregister.
 */
type Cleanup = () => void;

const pending = new Set<Cleanup>();
let hooked = false;

// 128 + signal number, as a shell reports a process killed by it.
const SIGNAL_EXIT = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;

function runAll(): void {
  for (const fn of [...pending].reverse()) {
    pending.delete(fn);
    try {
      fn();
    } catch (err) {
      console.error('cleanup failed:', err);
    }
  }
}

/** Registers `fn`; returns the function that unregisters it (without running it). */
export function onCleanup(fn: Cleanup): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', runAll);
    for (const sig of Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]) {
      process.once(sig, () => {
        console.error(`\n${sig}: cleaning up`);
        runAll();
        process.exit(SIGNAL_EXIT[sig]);
      });
    }
  }
  pending.add(fn);
  return () => pending.delete(fn);
}
