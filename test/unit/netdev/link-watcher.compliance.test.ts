import { describeLinkWatcherCompliance } from '../../compliance/link-watcher.js';
import { FakeLinks } from '../../fakes/fake-links.js';

describeLinkWatcherCompliance('FakeLinks', () => {
  const links = new FakeLinks([]);
  const done = Promise.resolve();
  return Promise.resolve({
    watcher: links,
    addLink: (name: string) => done.then(() => links.addLink(name)),
    removeLink: (name: string) => done.then(() => links.removeLink(name)),
    setUp: (name: string, up: boolean) => done.then(() => links.setUp(name, up)),
    setCarrier: (name: string, carrier: boolean) => done.then(() => links.setCarrier(name, carrier)),
    rename: (name: string, to: string) => done.then(() => links.rename(name, to)),
    setMac: (name: string, mac: string) => done.then(() => links.setMac(name, mac)),
    addAddress: (name: string, cidr: string) => done.then(() => links.addAddress(name, cidr)),
    removeAddress: (name: string, cidr: string) => done.then(() => links.removeAddress(name, cidr)),
    settle: () => done,
    close: () => done,
  });
});
