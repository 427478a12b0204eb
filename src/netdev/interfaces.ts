/**
 * One-shot interface discovery: every interface with its flags, master, kind and addresses,
 * from an rtnetlink dump in the calling process's network namespace.
 */
import type { NetInterface } from './interface-table.js';
import { LinkWatcher } from './link-watcher.js';

export type { InterfaceAddress, InterfaceFlags, NetInterface, OperState } from './interface-table.js';

/** Every interface, by ascending ifindex. Throws SocketError if rtnetlink cannot be read. */
export async function listInterfaces(): Promise<readonly NetInterface[]> {
  const watcher = new LinkWatcher({ notifications: false });
  try {
    await watcher.start();
    return watcher.interfaces();
  } finally {
    watcher.stop();
  }
}
