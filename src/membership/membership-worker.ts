/**
 * Entry point of the membership worker thread (started by WorkerMembership). Kept tiny: it
 * loads the membership, its UDP transport and codecs, and nothing of pino, prom-client or the
 * speaker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadNative } from '../netdev/native.js';
import { runMembershipThread } from './membership-thread.js';
import { MEMBERSHIP_THREAD_NAME, type ToWorker, type WorkerInit } from './worker-protocol.js';

try {
  loadNative().setThreadName(MEMBERSHIP_THREAD_NAME);
} catch {
  // Without the addon the thread keeps Node's name; nothing else depends on it.
}

const port = parentPort;
if (port === null) throw new Error('membership-worker must run in a worker thread (started by WorkerMembership)');
runMembershipThread(
  {
    postMessage: (m) => port.postMessage(m),
    onMessage: (h) => port.on('message', (m: ToWorker) => h(m)),
  },
  workerData as WorkerInit,
);
