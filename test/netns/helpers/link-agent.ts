/**
 * Runs inside a namespace (NetnsLab.spawnNode): prints listInterfaces(), then a LinkWatcher's
 * events as JSON lines, each stamped with Date.now() so the test can measure the delay.
 *   argv: [receive buffer bytes]
 *   out:  {event:'interfaces', list} | {event:'ready'} | {event:'link', type, name, up, lowerUp, master, at}
 *         | {event:'address', type, name, address, prefixLength, at} | {event:'count', count}
 *         | the watcher's own pino log lines ({level, msg, reason, ...})
 *   in:   {op:'block', ms} (keeps the event loop busy, so notifications pile up) | {op:'count'}
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { listInterfaces } from '../../../src/netdev/interfaces.js';
import { LinkWatcher } from '../../../src/netdev/link-watcher.js';

const out = (message: object): void => void process.stdout.write(`${JSON.stringify(message)}\n`);
const [rcvbuf] = process.argv.slice(2);

const list = await listInterfaces();
out({
  event: 'interfaces',
  list: list.map((i) => ({ ...i, mac: i.mac === null ? null : Buffer.from(i.mac).toString('hex') })),
});

const watcher = new LinkWatcher({
  logger: pino({ level: 'debug' }, pino.destination({ fd: 1, sync: true })),
  receiveBufferBytes: rcvbuf === undefined ? undefined : Number(rcvbuf),
});
watcher.onLink((e) =>
  out({ event: 'link', type: e.type, name: e.iface.name, up: e.iface.flags.up, lowerUp: e.iface.flags.lowerUp, master: e.iface.master, at: Date.now() }),
);
watcher.onAddress((e) =>
  out({ event: 'address', type: e.type, name: e.iface.name, address: e.address.address, prefixLength: e.address.prefixLength, at: Date.now() }),
);
await watcher.start();
out({ event: 'ready', count: watcher.interfaces().length });

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as { op: string; ms?: number };
  if (cmd.op === 'block') {
    out({ event: 'blocking' });
    const until = Date.now() + cmd.ms!;
    while (Date.now() < until) {
      // busy: the kernel keeps queueing notifications meanwhile
    }
  } else if (cmd.op === 'count') {
    out({ event: 'count', count: watcher.interfaces().length });
  }
});
process.on('SIGTERM', () => {
  watcher.stop();
  process.exit(0);
});
