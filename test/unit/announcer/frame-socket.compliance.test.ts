import { MemoryLan } from '../../fakes/memory-lan.js';
import { describeFrameSocketCompliance } from '../../compliance/frame-socket.js';

describeFrameSocketCompliance('MemoryLan', () => {
  const lan = new MemoryLan();
  const a = lan.socket(2);
  const b = lan.socket(3);
  return Promise.resolve({
    a,
    b,
    settle: () => Promise.resolve(),
    close: () => {
      a.close();
      b.close();
      return Promise.resolve();
    },
  });
});
