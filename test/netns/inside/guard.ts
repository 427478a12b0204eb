import { statSync } from 'node:fs';

/**
 * True only when this process runs in the namespace test/netns/helpers/inside.ts started it in
 * (L2VIP_TEST_NETNS names it): the inside suites create links and send frames, which must never
 * happen in the host's namespace. Throws when the variable is set but the namespace is not ours.
 */
export function insideTestNamespace(): boolean {
  const ns = process.env.L2VIP_TEST_NETNS;
  if (ns === undefined) return false;
  // `ip netns add` bind-mounts the namespace on /run/netns/NAME: same inode as our own.
  if (statSync(`/run/netns/${ns}`).ino !== statSync('/proc/self/ns/net').ino) {
    throw new Error(`L2VIP_TEST_NETNS=${ns}, but this process is not in that network namespace: refusing to run`);
  }
  return true;
}
