/**
 * The lab report as a browser draws it: the page is rendered by headless Chromium (Debian's
 * `chromium` package), its DOM dumped and checked for the timeline's elements, and a screenshot
 * taken and checked for size and for the colours of the timeline. Installs nothing: without a
 * Chromium on PATH the tests are skipped, and their name says so.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderLabReport } from '../../../src/lab/report-html.js';
import { fixtureReport } from '../../helpers/lab-report-fixture.js';
import { readPng } from '../../helpers/png.js';

const browser = ['chromium', 'chromium-browser', 'google-chrome'].find((b) => spawnSync(b, ['--version'], { stdio: 'ignore' }).error === undefined);
const skipped = browser === undefined ? ' (SKIPPED: no chromium on PATH; apt-get install chromium to run them)' : '';
if (browser === undefined) process.stderr.write(`lab report browser tests skipped: no chromium on PATH (apt-get install chromium)\n`);

const WIDTH = 1200;
const HEIGHT = 1600;

describe.skipIf(browser === undefined)(`lab report in headless Chromium${skipped}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'l2vip-report-test-'));
  const page = join(dir, 'report.html');
  writeFileSync(page, renderLabReport(fixtureReport()));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function chromium(...args: string[]): string {
    // --no-sandbox: Chromium refuses to run as root with its sandbox; a throw-away profile keeps $HOME clean.
    const r = spawnSync(
      browser!,
      ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${join(dir, 'profile')}`, `--window-size=${WIDTH},${HEIGHT}`, ...args, `file://${page}`],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 },
    );
    if (r.status !== 0) throw new Error(`${browser} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.slice(-500)}`);
    return r.stdout;
  }

  it('parses the page into one SVG timeline per trial, with answer spans, outages and events', () => {
    const dom = chromium('--dump-dom');
    const timelines = [...dom.matchAll(/<svg class="timeline"[^>]*data-run="(\d)"[^>]*data-trial="(\d+)"[^>]*>([\s\S]*?)<\/svg>/g)];
    expect(timelines.map((m) => `${m[1]}/${m[2]}`)).toEqual(['0/1', '0/2', '1/1']);
    for (const [, , , inner] of timelines) {
      expect(inner!.match(/<rect class="span answered"/g)?.length).toBeGreaterThanOrEqual(2);
      expect(inner).toMatch(/<rect class="span unanswered"/);
      expect(inner).toMatch(/<rect class="outage"/);
      expect(inner).toMatch(/<line class="fault"/);
      expect(inner).toMatch(/<g class="event" data-kind="elected"/);
    }
    expect(dom.match(/<g class="event"/g)).toHaveLength(15);
    expect(dom.match(/<g class="topo-node"/g)).toHaveLength(3);
  }, 120_000);

  it('draws a screenshot of the expected size with the timeline\'s colours in it', () => {
    const shot = join(dir, 'report.png');
    chromium(`--screenshot=${shot}`);
    // A blank or broken page compresses to a few kB; this one has text, boxes and bars.
    expect(statSync(shot).size).toBeGreaterThan(30_000);
    const png = readPng(readFileSync(shot));
    expect([png.width, png.height]).toEqual([WIDTH, HEIGHT]);
    const count = new Map<string, number>();
    for (let y = 0; y < png.height; y += 2) {
      for (let x = 0; x < png.width; x += 2) {
        const k = png.rgb(x, y).map((v) => v.toString(16).padStart(2, '0')).join('');
        count.set(k, (count.get(k) ?? 0) + 1);
      }
    }
    // Solid bars: answered by n1 (#0072b2), by n2 (#e69f00), and no answer (#d62728).
    for (const colour of ['0072b2', 'e69f00', 'd62728']) expect(count.get(colour) ?? 0, `#${colour} pixels`).toBeGreaterThan(200);
  }, 120_000);
});
