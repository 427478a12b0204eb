/**
 * Runs inside a namespace (NetnsLab.spawnNode): opens an AfPacketSocket and speaks JSON lines.
 *   argv: <interface> [arp-ndp | none]    (the kernel filter; default none)
 *   out:  {event:'ready', ifindex} | {event:'frame', hex, type} | {event:'done', op}
 *         | {event:'error', op?, name, code, message, errno?}   (op 'receive': a receive error)
 *   in:   {op:'send', hex} | {op:'join', mac} | {op:'leave', mac} | {op:'close'}
 */
import { createInterface } from 'node:readline';
import { AfPacketSocket } from '../../../src/netdev/afpacket-socket.js';
import { arpAndNdpFilter } from '../../../src/netdev/bpf.js';

const [iface = 'eth0', filter = 'none'] = process.argv.slice(2);
const out = (message: object): void => void process.stdout.write(`${JSON.stringify(message)}\n`);
const failure = (err: unknown, op?: string): object => {
  const e = err as Error & { code?: string };
  return { event: 'error', op, name: e.name, code: e.code, message: e.message };
};

let socket: AfPacketSocket;
try {
  socket = AfPacketSocket.open(iface, {
    filter: filter === 'arp-ndp' ? arpAndNdpFilter() : undefined,
    onError: (err) => out({ ...failure(err, 'receive'), errno: (err as { errno?: string }).errno }),
  });
} catch (err) {
  out(failure(err));
  process.exit(0);
}
socket.onFrame((frame, type) => out({ event: 'frame', hex: Buffer.from(frame).toString('hex'), type }));
out({ event: 'ready', ifindex: socket.ifindex });

const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as { op: string; hex?: string; mac?: string };
  try {
    if (cmd.op === 'send') socket.send(bytes(cmd.hex!));
    else if (cmd.op === 'join') socket.addMembership(bytes(cmd.mac!));
    else if (cmd.op === 'leave') socket.dropMembership(bytes(cmd.mac!));
    else if (cmd.op === 'close') socket.close();
    out({ event: 'done', op: cmd.op });
  } catch (err) {
    out(failure(err, cmd.op));
  }
});
process.on('SIGTERM', () => {
  socket.close();
  process.exit(0);
});
