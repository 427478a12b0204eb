/**
 * CPU time and memory of a process from /proc (proc(5)), for benches that measure another
 * process. Time spent in softirq on the process's behalf (receiving its frames) is not charged
 * to it, so these are lower bounds of what a flood costs the machine.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck: number | undefined;

/** sysconf(_SC_CLK_TCK): the unit of utime/stime in /proc/PID/stat (100 on Linux). */
function ticksPerSecond(): number {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clkTck;
}

export interface CpuSample {
  /** process.hrtime.bigint() when read. */
  readonly at: bigint;
  /** utime + stime of all threads (/proc/PID/stat fields 14 and 15), in seconds. */
  readonly statSeconds: number;
  /** Sum over threads of /proc/PID/task/TID/schedstat's time on CPU, in seconds (ns resolution). */
  readonly schedSeconds: number;
}

export function cpuSample(pid: number): CpuSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: count from its end.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
  let sched = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      sched += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return { at: process.hrtime.bigint(), statSeconds: ticks / ticksPerSecond(), schedSeconds: sched / 1e9 };
}

/** CPU use between two samples, in % of one core, by both measures. */
export function cpuPercent(a: CpuSample, b: CpuSample): { stat: number; sched: number } {
  const wall = Number(b.at - a.at) / 1e9;
  return { stat: (100 * (b.statSeconds - a.statSeconds)) / wall, sched: (100 * (b.schedSeconds - a.schedSeconds)) / wall };
}

/** Resident set size (VmRSS of /proc/PID/status), in MiB. */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Per OS thread of a process: its name (comm), time on CPU (schedstat, s) and voluntary context switches (its wakeups). */
export interface ThreadSample {
  readonly at: bigint;
  readonly threads: ReadonlyMap<number, { readonly name: string; readonly cpuSeconds: number; readonly wakeups: number }>;
}

export function threadSample(pid: number): ThreadSample {
  const threads = new Map<number, { name: string; cpuSeconds: number; wakeups: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const cpuSeconds = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
      const m = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      threads.set(Number(tid), { name, cpuSeconds, wakeups: Number(m?.[1] ?? 0) });
    } catch {
      // The thread exited between the listing and the reads.
    }
  }
  return { at: process.hrtime.bigint(), threads };
}

/** CPU (% of one core) and wakeups/s between two samples of the threads `pick` selects. */
export function threadUse(a: ThreadSample, b: ThreadSample, pick: (tid: number, name: string) => boolean): { cpu: number; wakeups: number } {
  const wall = Number(b.at - a.at) / 1e9;
  let cpu = 0;
  let wakeups = 0;
  for (const [tid, t] of b.threads) {
    if (!pick(tid, t.name)) continue;
    const before = a.threads.get(tid);
    cpu += t.cpuSeconds - (before?.cpuSeconds ?? 0);
    wakeups += t.wakeups - (before?.wakeups ?? 0);
  }
  return { cpu: (100 * cpu) / wall, wakeups: wakeups / wall };
}

/**
 * What of the RSS is the process's own (/proc/PID/smaps_rollup): anonymous memory (heaps, stacks,
 * malloc) in MiB, as against file pages (the node binary's text, shared with every node process).
 */
export function anonMiB(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
