import { describe } from 'vitest';
import { AfPacketSocket } from '../../../src/netdev/afpacket-socket.js';
import { describeFrameSocketCompliance } from '../../compliance/frame-socket.js';
import { insideTestNamespace } from './guard.js';

// Set by test/netns/frame-socket-compliance.test.ts: the two ends of a veth pair in this namespace.
const ends = insideTestNamespace() ? process.env.L2VIP_TEST_VETH?.split(',') : undefined;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (ends?.length === 2) {
  const [a0, b0] = ends as [string, string];
  describeFrameSocketCompliance(`AfPacketSocket over a veth pair (${a0}, ${b0})`, () => {
    const a = AfPacketSocket.open(a0);
    const b = AfPacketSocket.open(b0);
    return Promise.resolve({
      a,
      b,
      // A frame crosses a veth pair in microseconds; the event loop must turn to read it.
      settle: () => sleep(20),
      close: () => {
        a.close();
        b.close();
        return Promise.resolve();
      },
    });
  });
} else {
  describe.skip('AfPacketSocket compliance (run by test/netns/frame-socket-compliance.test.ts)', () => undefined);
}
