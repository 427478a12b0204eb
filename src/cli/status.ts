import { Command, Option } from 'commander';
import { NotRunningError, UsageError } from '../errors.js';
import { STATUS_SCHEMA_VERSION, type StatusDocument } from '../speaker/status.js';

/** Where `l2vip status` asks by default: MetalLB's metrics port, on this host. */
export const DEFAULT_STATUS_ENDPOINT = 'http://127.0.0.1:7472';
const TIMEOUT_MS = 2_000;
const WATCH_MS = 1_000;
/** ANSI: cursor home, clear the screen. */
const CLEAR = '\x1b[H\x1b[2J';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .summary('show who announces what, the last failovers, peers and conflicts, from a running speaker')
    .description(
      'Ask a running speaker (standalone or Kubernetes) for its status over HTTP and print it: each service ' +
        'with its VIPs, owner, the interfaces this node announces it on, since when, and the last failover (when, ' +
        'from whom, why, how long it took, measured by the node that took over); the peers with their state and ' +
        'when they were last heard; and other hosts claiming our VIPs (conflicts). The default endpoint is ' +
        `${DEFAULT_STATUS_ENDPOINT} (the Kubernetes speaker's port); a standalone node serves it on its config's ` +
        'metrics.listen, so pass --endpoint when that is not 127.0.0.1:7472. Exits 3 when nothing answers. See docs/status.md.',
    )
    .option('--endpoint <url>', 'the speaker\'s metrics address (http://HOST:PORT); /status is added', DEFAULT_STATUS_ENDPOINT)
    .addOption(new Option('-o, --output <format>', 'table, or json (the document as served, schema in docs/status.md)').choices(['table', 'json']).default('table'))
    .option('-w, --watch', 'refresh every second in place (Ctrl-C ends)')
    .action((opts: { endpoint: string; output: 'table' | 'json'; watch?: boolean }) => runStatus(opts));
}

/** The URL of the status document for what --endpoint says: a base URL, HOST:PORT, or the /status URL itself. */
export function statusUrl(endpoint: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--endpoint: "${endpoint}" is not a URL (use http://HOST:PORT)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--endpoint: "${endpoint}" is not an http:// URL`);
  if (!url.pathname.endsWith('/status')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/status`;
  return url.toString();
}

/** Fetches and checks the status document; NotRunningError (exit 3) with one line when there is none. */
export async function fetchStatus(url: string): Promise<{ doc: StatusDocument; text: string }> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw new NotRunningError(`no l2vip speaker answers at ${url} (${describeFetchError(err)}): is it running? A standalone node serves status on its metrics.listen (use --endpoint)`);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) throw new NotRunningError(`${url} answered HTTP ${res.status}, not an l2vip status document: is --endpoint the speaker's metrics address?`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new NotRunningError(`${url} answered something that is not JSON: is --endpoint the speaker's metrics address?`);
  }
  const version = (doc as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== STATUS_SCHEMA_VERSION) {
    throw new NotRunningError(`${url} answered a status document of schema version ${String(version)}; this l2vip reads version ${STATUS_SCHEMA_VERSION}`);
  }
  return { doc: doc as StatusDocument, text };
}

function describeFetchError(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string } } | null;
  if (e?.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS / 1000} s`;
  return e?.cause?.code ?? e?.cause?.message ?? (err instanceof Error ? err.message : String(err));
}

async function runStatus(opts: { endpoint: string; output: 'table' | 'json'; watch?: boolean }): Promise<void> {
  const url = statusUrl(opts.endpoint);
  const show = (r: { doc: StatusDocument; text: string }): string => (opts.output === 'json' ? (r.text.endsWith('\n') ? r.text : `${r.text}\n`) : renderStatus(r.doc));
  // The first answer decides: nothing running is an error, also with --watch.
  const first = await fetchStatus(url);
  if (opts.watch !== true) {
    process.stdout.write(show(first));
    return;
  }
  process.stdout.write(CLEAR + show(first));
  for (;;) {
    await new Promise((r) => setTimeout(r, WATCH_MS));
    // While watching, a speaker that restarts is shown as such, and watched again when it is back.
    const next = await fetchStatus(url).then(
      (r) => show(r),
      (err: unknown) => `l2vip: ${err instanceof Error ? err.message : String(err)}\n(retrying every second)\n`,
    );
    process.stdout.write(CLEAR + next);
  }
}

/** The status document as text tables (what `l2vip status` prints). */
export function renderStatus(doc: StatusDocument): string {
  const now = Date.parse(doc.generatedAt);
  const at = (iso: string | null): string => (iso === null ? '-' : `${formatTime(iso)} (${formatAge(now - Date.parse(iso))} ago)`);
  const out: string[] = [];
  const health = doc.health.healthy ? 'healthy' : 'UNHEALTHY';
  const ready = doc.health.ready ? 'ready' : 'NOT READY';
  out.push(`node ${doc.node} (${doc.mode}), ${health}, ${ready}, at ${formatTime(doc.generatedAt)}`);
  for (const p of [...doc.health.problems, ...doc.health.notReady]) out.push(`  ! ${p}`);
  out.push('');
  if (doc.services.length === 0) out.push('no services');
  else {
    out.push(
      ...table(
        ['SERVICE', 'ADDRESSES', 'OWNER', 'INTERFACES', 'OWNED SINCE', 'LAST FAILOVER'],
        doc.services.map((s) => [
          s.name,
          s.addresses.join(','),
          s.owner === null ? '(none)' : s.owner === doc.node ? `${s.owner} (this node)` : s.owner,
          s.interfaces.length === 0 ? '-' : s.interfaces.join(','),
          at(s.ownedSince),
          s.lastFailover === null ? '-' : failover(s.lastFailover, now),
        ]),
      ),
    );
  }
  out.push('');
  if (doc.peers.length === 0) out.push('no peers');
  else {
    out.push(
      ...table(
        ['PEER', 'ADDRESS', 'STATE', 'INCARNATION', 'LAST HEARD'],
        doc.peers.map((p) => [p.name, p.address, p.state, String(p.incarnation), p.lastHeardMsAgo === null ? 'never' : `${formatAge(p.lastHeardMsAgo)} ago`]),
      ),
    );
  }
  out.push('');
  if (doc.conflicts.length === 0) out.push('no conflicts');
  else {
    out.push(
      ...table(
        ['CONFLICT IP', 'INTERFACE', 'OUR MAC', 'OTHER MAC', 'FRAMES', 'ACTION', 'FIRST SEEN', 'LAST SEEN'],
        doc.conflicts.map((c) => [c.ip, c.iface, c.ourMac ?? '-', c.otherMac, String(c.count), c.action, at(c.firstSeen), `${at(c.lastSeen)}${c.ongoing ? ' ONGOING' : ''}`]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

function failover(f: NonNullable<StatusDocument['services'][number]['lastFailover']>, now: number): string {
  const took = f.durationMs === null ? '' : `, took ${formatDuration(f.durationMs)}`;
  return `${formatTime(f.at)} (${formatAge(now - Date.parse(f.at))} ago) ${f.from ?? '?'} -> ${f.to ?? '(none)'} (${f.cause}${took})`;
}

/** ISO time as "YYYY-MM-DD HH:MM:SSZ". */
function formatTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}Z`;
}

/** An age: 850ms, 4.2s, 3m05s, 2h10m, 3d04h. */
export function formatAge(ms: number): string {
  const v = Math.max(0, ms);
  if (v < 1_000) return `${Math.round(v)}ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(1)}s`;
  const s = Math.floor(v / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** A measured duration: 0.42 ms, 3.1 ms, 250 ms, 1.20 s. */
function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** Left-aligned columns, two spaces apart. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}
