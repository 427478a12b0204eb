import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../speaker/status.js';
import { formatAge, renderStatus, statusUrl } from './status.js';

const FIXTURE = readFileSync(new URL('../../test/unit/fixtures/status-v1.json', import.meta.url), 'utf8');
const DOC = JSON.parse(FIXTURE) as StatusDocument;

describe('l2vip status table', () => {
  it('renders services with owner, interfaces, owned since and the last failover; peers with state and age; conflicts', () => {
    const text = renderStatus(DOC);
    const lines = text.split('\n');
    expect(lines[0]).toBe('node n2 (standalone), UNHEALTHY, ready, at 2026-11-29 20:00:10Z');
    expect(lines[1]).toBe('  ! 198.51.100.200 is owned but not answered on eth1: EPERM');
    const svc = lines.findIndex((l) => l.startsWith('SERVICE'));
    expect(lines[svc]).toMatch(/^SERVICE\s+ADDRESSES\s+OWNER\s+INTERFACES\s+OWNED SINCE\s+LAST FAILOVER$/);
    const web = lines[svc + 1]!;
    expect(web).toMatch(/^web\s+198\.51\.100\.200,2001:db8:77::200\s+n2 \(this node\)\s+eth0\s+2026-11-29 20:00:00Z \(10\.0s ago\)\s+2026-11-29 20:00:00Z \(10\.0s ago\) n1 -> n2 \(death, took 3\.3 ms\)$/);
    expect(lines[svc + 2]).toMatch(/^db\s+198\.51\.100\.201\s+n3\s+-\s+-\s+-$/);
    expect(lines[svc + 3]).toMatch(/^off\s+198\.51\.100\.202\s+\(none\)\s+-\s+-\s+-$/);
    // Columns line up: every row starts its OWNER cell where the header does.
    const col = lines[svc]!.indexOf('OWNER');
    expect([1, 2, 3].map((i) => lines[svc + i]!.slice(col, col + 2))).toEqual(['n2', 'n3', '(n']);
    const peers = lines.findIndex((l) => l.startsWith('PEER'));
    expect(lines.slice(peers + 1, peers + 4)).toEqual([
      expect.stringMatching(/^n1\s+10\.0\.0\.1:7946\s+dead\s+1764446400000\s+10\.4s ago$/),
      expect.stringMatching(/^n3\s+10\.0\.0\.3:7946\s+alive\s+1764446400123\s+42ms ago$/),
      expect.stringMatching(/^n4\s+10\.0\.0\.4:7946\s+suspect\s+1764446400456\s+never$/),
    ]);
    const conflicts = lines.findIndex((l) => l.startsWith('CONFLICT IP'));
    expect(lines[conflicts + 1]).toMatch(/^198\.51\.100\.200\s+eth0\s+02:00:00:00:00:02\s+0e:01:02:03:04:05\s+4\s+defend\s+2026-11-29 20:00:05Z \(5\.0s ago\)\s+2026-11-29 20:00:09Z \(1\.0s ago\) ONGOING$/);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('says so when there are no services, peers or conflicts', () => {
    const empty = { ...DOC, services: [], peers: [], conflicts: [], health: { healthy: true, problems: [], ready: true, notReady: [] } };
    expect(renderStatus(empty)).toBe('node n2 (standalone), healthy, ready, at 2026-11-29 20:00:10Z\n\nno services\n\nno peers\n\nno conflicts\n');
  });

  it('formats ages and endpoints', () => {
    expect([850, 4_210, 185_000, 7_800_000, 3 * 86_400_000 + 4 * 3_600_000].map(formatAge)).toEqual(['850ms', '4.2s', '3m05s', '2h10m', '3d04h']);
    expect(statusUrl('http://127.0.0.1:7472')).toBe('http://127.0.0.1:7472/status');
    expect(statusUrl('127.0.0.1:9120')).toBe('http://127.0.0.1:9120/status');
    expect(statusUrl('http://[::1]:9120/status')).toBe('http://[::1]:9120/status');
    expect(() => statusUrl('ftp://x')).toThrow(/not an http/);
  });
});

/** Runs the l2vip CLI from the sources; resolves with its output and exit code. `killWhen`: SIGTERM once its output passes the test. */
function l2vip(args: string[], killWhen?: (stdout: string) => boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (killWhen?.(stdout) === true) child.kill('SIGTERM');
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // Never outlive the test.
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('l2vip status command against a speaker on loopback', () => {
  let server: Server;
  let base = '';
  let requests = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      if (req.url === '/status') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(FIXTURE);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(() => {
    server.close();
  });

  it('prints the table, and with --output json the document as served', async () => {
    const [table, json] = await Promise.all([l2vip(['status', '--endpoint', base]), l2vip(['status', '--endpoint', `${base}/status`, '--output', 'json'])]);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(renderStatus(DOC));
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(DOC);
  }, 30_000);

  it('exits 3 with one line when nothing answers, or what answers is not a status endpoint', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const free = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const [none, other] = await Promise.all([l2vip(['status', '--endpoint', `http://127.0.0.1:${free}`]), l2vip(['status', '--endpoint', `${base}/metrics`])]);
    expect(none.code).toBe(3);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe(`l2vip: no l2vip speaker answers at http://127.0.0.1:${free}/status (ECONNREFUSED): is it running? A standalone node serves status on its metrics.listen (use --endpoint)\n`);
    expect(other.code).toBe(3);
    expect(other.stderr.trim().split('\n')).toHaveLength(1);
    expect(other.stderr).toMatch(/answered HTTP 404/);
  }, 30_000);

  it('--watch clears the screen and refreshes every second', async () => {
    const before = requests;
    const frames = (out: string) => out.split('\x1b[H\x1b[2J').filter((f) => f !== '');
    const started = Date.now();
    let firstAt = 0;
    const r = await l2vip(['status', '--endpoint', base, '--watch'], (out) => {
      if (frames(out).length === 1 && firstAt === 0) firstAt = Date.now();
      return frames(out).length >= 3;
    });
    const shown = frames(r.stdout);
    expect(shown.length).toBeGreaterThanOrEqual(3);
    expect(r.stdout.startsWith('\x1b[H\x1b[2J')).toBe(true);
    expect(shown[0]).toBe(renderStatus(DOC));
    expect(shown[2]).toBe(renderStatus(DOC));
    // Three frames, a second apart.
    expect(Date.now() - Math.max(firstAt, started)).toBeGreaterThanOrEqual(1_900);
    expect(requests - before).toBeGreaterThanOrEqual(3);
  }, 30_000);

  it('refuses an unknown output format with exit 2', async () => {
    const r = await l2vip(['status', '--endpoint', base, '--output', 'yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Allowed choices are table, json/);
  }, 30_000);
});
