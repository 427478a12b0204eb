/**
 * Run inside a namespace: `serve tcp|udp IP` answers one connection or datagram with
 * "echo:<proto>" and exits (10 s at most); `ask tcp|udp IP` prints what the server answered.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [mode, proto, ip] = process.argv.slice(2) as [string, 'tcp' | 'udp', string];
const PORT = 7070;
const family = ip.includes(':') ? 'udp6' : 'udp4';
setTimeout(() => process.exit(1), 10_000).unref();

if (mode === 'serve' && proto === 'tcp') {
  const srv = createServer((s) => s.end(`echo:tcp`, () => srv.close()));
  srv.listen(PORT, ip);
} else if (mode === 'serve') {
  const s = createSocket(family);
  s.on('message', (_m, r) => s.send('echo:udp', r.port, r.address, () => s.close()));
  s.bind(PORT, ip);
} else if (proto === 'tcp') {
  const c = connect(PORT, ip);
  c.setEncoding('utf8').on('data', (d: string) => process.stdout.write(d + '\n'));
  c.on('error', (e) => process.stdout.write(`error:${e.message}\n`));
} else {
  const s = createSocket(family);
  s.on('message', (m) => {
    process.stdout.write(m.toString() + '\n');
    s.close();
  });
  s.send('hi', PORT, ip);
}
