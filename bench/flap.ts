/**
 * bench:flap — what the hold-down (flap damping) buys: an overloaded owner whose heartbeats do
 * not get out for a while, again and again, makes VIPs bounce unless a node back from dead must
 * stay alive for the hold-down before it takes them back. Simulated (the real membership and
 * speaker core, in-memory network, virtual clock): 3 nodes, one service; the node ranked first
 * for it goes quiet (outgoing datagrams lost) for STALL ms every PERIOD ms, for 10 minutes.
 * Printed per hold-down: ownership moves, time the VIP spent on the overloaded node, the longest
 * time with no owner, next to the undamped figure (hold-down 0) of the same run.
 *
 *   npm run bench:flap [-- --stall 250 --period 4000]
 */
import { parseArgs } from 'node:util';
import { rankNodes } from '../src/election/hash-ranking.js';
import { silentLogger } from '../src/observability/logger.js';
import type { ServiceSpec } from '../src/speaker/ownership.js';
import { Speaker } from '../src/speaker/speaker.js';
import { RecordingAnnouncer } from '../test/fakes/recording-announcer.js';
import { FakeLinks } from '../test/fakes/fake-links.js';
import { SimCluster } from '../test/fakes/sim-cluster.js';

const { values } = parseArgs({
  options: { stall: { type: 'string', default: '250' }, period: { type: 'string', default: '4000' }, minutes: { type: 'string', default: '10' } },
});
const STALL = Number(values.stall);
const PERIOD = Number(values.period);
const DURATION = Number(values.minutes) * 60_000;


async function run(holdDownMs: number): Promise<{ moves: number; onFlappy: number; longestGap: number }> {
  const sim = new SimCluster({ size: 3, seed: 11, loss: 0 });
  const vip = '192.0.2.200';
  const svc: ServiceSpec = { name: 'web', addresses: [vip], nodes: sim.nodes.map((n) => n.name) };
  const flappy = rankNodes(vip, svc.nodes)[0]!;
  const nodes = sim.nodes.map((n, i) => {
    const announcer = new RecordingAnnouncer();
    const speaker = new Speaker({ self: n.name, clock: sim.clock, logger: silentLogger(), membership: n.membership, links: new FakeLinks(['eth0'], i + 1), announcer, holdDownMs });
    speaker.setDesired({ services: [svc] });
    return { name: n.name, announcer, speaker };
  });
  for (const n of nodes) await n.speaker.start();
  sim.advance(1000);
  const flappyAddr = sim.node(flappy).address;
  const others = sim.nodes.filter((n) => n.name !== flappy).map((n) => n.address);
  // The owner as the rest of the cluster sees it: whom clients are sent to after each move.
  const observer = nodes.find((n) => n.name !== flappy)!;
  const ownerNow = (): string | undefined => observer.speaker.currentOwners().get('web');
  let moves = 0;
  let onFlappy = 0;
  let gap = 0;
  let longestGap = 0;
  let owner = ownerNow();
  for (let t = 0; t < DURATION; t++) {
    const phase = t % PERIOD;
    if (phase === 0) for (const o of others) sim.network.block(flappyAddr, o);
    if (phase === STALL) for (const o of others) sim.network.unblock(flappyAddr, o);
    sim.advance(1);
    const now = ownerNow();
    if (now !== owner) {
      if (now !== undefined) moves++;
      owner = now;
    }
    if (now === undefined) gap++;
    else {
      longestGap = Math.max(longestGap, gap);
      gap = 0;
    }
    if (now === flappy) onFlappy++;
  }
  for (const n of nodes) void n.speaker.stop();
  return { moves, onFlappy: onFlappy / DURATION, longestGap };
}

console.log(`bench:flap — 3 nodes, the owner goes quiet for ${STALL} ms every ${PERIOD} ms, ${DURATION / 60_000} min simulated`);
const base = await run(0);
console.log('hold-down   ownership moves   time on the flapping node   longest time without owner');
for (const h of [0, 1000, 3000, 10_000]) {
  const r = h === 0 ? base : await run(h);
  const ratio = base.moves === 0 ? '' : ` (${(r.moves / base.moves).toFixed(2)}× undamped)`;
  console.log(`${String(h).padStart(6)} ms   ${String(r.moves).padStart(6)}${ratio.padEnd(18)}   ${(r.onFlappy * 100).toFixed(1).padStart(6)} %   ${String(r.longestGap).padStart(8)} ms`);
}
