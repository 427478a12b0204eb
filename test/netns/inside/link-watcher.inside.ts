import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe } from 'vitest';
import { LinkWatcher } from '../../../src/netdev/link-watcher.js';
import { describeLinkWatcherCompliance } from '../../compliance/link-watcher.js';
import { insideTestNamespace } from './guard.js';

const execFileAsync = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `ip` in this process's namespace: the one test/netns/link-watcher-compliance.test.ts made for it. */
async function ip(...args: string[]): Promise<void> {
  await execFileAsync('ip', args);
}

if (insideTestNamespace()) {
  describeLinkWatcherCompliance('LinkWatcher over rtnetlink in a namespace', () => {
    // Each link is one end of a veth pair; its far end ('<name>p') stays up and gives it carrier.
    const peers = new Map<string, string>();
    const peer = (name: string): string => peers.get(name) ?? `${name}p`;
    return Promise.resolve({
      watcher: new LinkWatcher(),
      async addLink(name: string) {
        peers.set(name, `${name}p`);
        await ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
        await ip('link', 'set', `${name}p`, 'up');
      },
      async removeLink(name: string) {
        await ip('link', 'del', name);
        peers.delete(name);
      },
      setUp: (name: string, up: boolean) => ip('link', 'set', name, up ? 'up' : 'down'),
      setCarrier: (name: string, carrier: boolean) => ip('link', 'set', peer(name), carrier ? 'up' : 'down'),
      async rename(name: string, to: string) {
        await ip('link', 'set', name, 'name', to);
        peers.set(to, peer(name));
        peers.delete(name);
      },
      setMac: (name: string, mac: string) => ip('link', 'set', name, 'address', mac),
      addAddress: (name: string, cidr: string) => ip('addr', 'add', cidr, 'dev', name),
      removeAddress: (name: string, cidr: string) => ip('addr', 'del', cidr, 'dev', name),
      // rtnetlink notifications arrive well under a millisecond after the change; the event loop must turn.
      settle: () => sleep(20),
      async close() {
        // Deleting one end of a veth pair deletes both.
        for (const name of peers.keys()) await ip('link', 'del', name).catch(() => undefined);
      },
    });
  });
} else {
  describe.skip('LinkWatcher compliance (run by test/netns/link-watcher-compliance.test.ts)', () => undefined);
}
