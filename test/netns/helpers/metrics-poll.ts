/**
 * Polls a Prometheus endpoint (in the namespace it runs in) and prints, for each scrape, one JSON
 * line `{"count":N,"ms":M}`: the number of samples of METRIC with a non-zero value, and how long
 * the scrape took. A failed scrape prints `{"error":"..."}`. Runs until killed.
 * Usage: metrics-poll.ts URL METRIC INTERVAL_MS. No curl in every image: this is the node way.
 */
import { get } from 'node:http';

const [url, metric, intervalText] = process.argv.slice(2);
if (url === undefined || metric === undefined) {
  process.stderr.write('usage: metrics-poll.ts URL METRIC INTERVAL_MS\n');
  process.exit(2);
}
const interval = Number(intervalText ?? '250');

/** Samples of `name` (bare or with labels) whose value is not 0. */
function countSamples(text: string, name: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (value !== 0 && !Number.isNaN(value)) n++;
  }
  return n;
}

function scrape(): void {
  const started = Date.now();
  const done = (line: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify(line)}\n`);
    setTimeout(scrape, Math.max(0, interval - (Date.now() - started)));
  };
  get(url!, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    res.on('end', () => done({ count: countSamples(body, metric!), ms: Date.now() - started }));
    res.on('error', (err) => done({ error: err.message }));
  }).on('error', (err) => done({ error: err.message }));
}

process.on('SIGTERM', () => process.exit(0));
scrape();
