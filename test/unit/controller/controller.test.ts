import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { annotationOf, eventsOf, ingressOf, leaseHolder, NS, pool, scrape, service, spawnController, startHarness, waitFor, type Harness } from './harness.js';

const POOL_ANNOTATION = 'metallb.io/ip-allocated-from-pool';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

describe('l2vip controller against the fake API server', () => {
  it('writes the IP into status and the pool annotation, with an IPAllocated Event', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30']));
    h.api.objects.create(service('web'));
    const c = await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'web'), 'an IP for web')).toEqual(['192.0.2.0']);
    expect(annotationOf(h.api, 'web', POOL_ANNOTATION)).toBe('main');
    await waitFor(() => eventsOf(h.api, 'web').some((e) => e.reason === 'IPAllocated'), 'IPAllocated event');
    expect(eventsOf(h.api, 'web').find((e) => e.reason === 'IPAllocated')?.message).toBe('Assigned IP ["192.0.2.0"]');
    // Pool status: 1 of 4 IPv4 addresses assigned.
    await waitFor(() => (h.api.objects.get('metallb.io/v1beta1', 'IPAddressPool', NS, 'main') as { status?: { assignedIPv4?: number } }).status?.assignedIPv4 === 1, 'pool status');
    expect((h.api.objects.get('metallb.io/v1beta1', 'IPAddressPool', NS, 'main') as { status?: unknown }).status).toEqual({
      assignedIPv4: 1,
      assignedIPv6: 0,
      availableIPv4: 3,
      availableIPv6: 0,
    });
    expect((await scrape(c, '/readyz')).status).toBe(200);
    const metrics = (await scrape(c)).text;
    expect(metrics).toContain('metallb_allocator_addresses_total{pool="main"} 4');
    expect(metrics).toContain('metallb_allocator_ipv4_addresses_in_use_total{pool="main"} 1');
    expect(metrics).toContain('metallb_k8s_client_config_loaded_bool 1');
    expect(metrics).toContain('metallb_k8s_client_config_stale_bool 0');
    expect(metrics).toContain('l2vip_controller_leader 1');
  });

  it('shares one IP between Services with the same sharing key and no port clash', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30']));
    const share = { 'metallb.io/allow-shared-ip': 'k' };
    h.api.objects.create(service('dns-tcp', { annotations: share, spec: { ports: [{ port: 53, protocol: 'TCP' }] } }));
    h.api.objects.create(service('dns-udp', { annotations: share, spec: { ports: [{ port: 53, protocol: 'UDP' }] } }));
    h.api.objects.create(service('other', { spec: { ports: [{ port: 53, protocol: 'UDP' }] } }));
    await h.start();
    const a = await waitFor(() => ingressOf(h.api, 'dns-tcp'), 'dns-tcp');
    const b = await waitFor(() => ingressOf(h.api, 'dns-udp'), 'dns-udp');
    const o = await waitFor(() => ingressOf(h.api, 'other'), 'other');
    expect(a).toEqual(b);
    expect(o).not.toEqual(a);
  });

  it('gives a RequireDualStack Service one IPv4 and one IPv6 address from the same pool', async () => {
    h.api.objects.create(pool('v4only', ['192.0.2.0/30']));
    h.api.objects.create(pool('dual', ['198.51.100.8/30', '2001:db8::/126']));
    h.api.objects.create(service('ds', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] } }));
    h.api.objects.create(service('v6', { spec: { ipFamilies: ['IPv6'] } }));
    await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'ds'), 'dual-stack IPs')).toEqual(['198.51.100.8', '2001:db8::']);
    expect(annotationOf(h.api, 'ds', POOL_ANNOTATION)).toBe('dual');
    expect(await waitFor(() => ingressOf(h.api, 'v6'), 'IPv6 IP')).toEqual(['2001:db8::1']);
  });

  it('chooses the pool by annotation, by namespace and by serviceSelector', async () => {
    h.api.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { team: 'a' } } });
    h.api.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    h.api.objects.create(pool('general', ['192.0.2.0/28']));
    h.api.objects.create(pool('manual', ['192.0.2.16/28'], { autoAssign: false }));
    h.api.objects.create(pool('team-a', ['192.0.2.32/28'], { serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { team: 'a' } }] } }));
    h.api.objects.create(pool('gold', ['192.0.2.48/28'], { serviceAllocation: { priority: 2, serviceSelectors: [{ matchLabels: { tier: 'gold' } }] } }));
    h.api.objects.create(service('by-annotation', { annotations: { 'metallb.io/address-pool': 'manual' } }));
    h.api.objects.create(service('by-namespace', { namespace: 'team-a' }));
    h.api.objects.create(service('by-selector', { labels: { tier: 'gold' } }));
    h.api.objects.create(service('plain'));
    await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'by-annotation'), 'by-annotation')).toEqual(['192.0.2.16']);
    expect(await waitFor(() => ingressOf(h.api, 'by-namespace', 'team-a'), 'by-namespace')).toEqual(['192.0.2.32']);
    expect(await waitFor(() => ingressOf(h.api, 'by-selector'), 'by-selector')).toEqual(['192.0.2.48']);
    expect(await waitFor(() => ingressOf(h.api, 'plain'), 'plain')).toEqual(['192.0.2.0']);
    // Relabelling the namespace moves nothing already assigned, but a new Service follows the labels.
    h.api.objects.patch('v1', 'Namespace', undefined, 'default', { metadata: { labels: { team: 'a' } } });
    h.api.objects.create(service('late'));
    expect(await waitFor(() => ingressOf(h.api, 'late'), 'late')).toEqual(['192.0.2.33']);
    expect(ingressOf(h.api, 'plain')).toEqual(['192.0.2.0']);
  });

  it('releases the IP of a deleted Service and gives it to a Service that was waiting', async () => {
    h.api.objects.create(pool('tiny', ['192.0.2.7/32']));
    h.api.objects.create(service('first'));
    await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'first'), 'first')).toEqual(['192.0.2.7']);
    h.api.objects.create(service('second'));
    await waitFor(() => eventsOf(h.api, 'second').find((e) => e.reason === 'AllocationFailed'), 'AllocationFailed for second');
    expect(eventsOf(h.api, 'second').find((e) => e.reason === 'AllocationFailed')?.message).toContain('no available IPs');
    h.api.objects.delete('v1', 'Service', 'default', 'first');
    expect(await waitFor(() => ingressOf(h.api, 'second'), 'second gets the freed IP')).toEqual(['192.0.2.7']);
  });

  it('reprocesses waiting Services when a sharing key changes', async () => {
    h.api.objects.create(pool('one', ['192.0.2.9/32']));
    h.api.objects.create(service('a', { annotations: { 'metallb.io/allow-shared-ip': 'x' }, spec: { ports: [{ port: 80, protocol: 'TCP' }] } }));
    await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'a'), 'a')).toEqual(['192.0.2.9']);
    h.api.objects.create(service('b', { annotations: { 'metallb.io/allow-shared-ip': 'y' }, spec: { ports: [{ port: 443, protocol: 'TCP' }] } }));
    await waitFor(() => eventsOf(h.api, 'b').find((e) => e.reason === 'AllocationFailed'), 'b fails');
    // a now shares under b's key: b, untouched itself, gets the address too.
    h.api.objects.patch('v1', 'Service', 'default', 'a', { metadata: { annotations: { 'metallb.io/allow-shared-ip': 'y' } } });
    expect(await waitFor(() => ingressOf(h.api, 'b'), 'b shares')).toEqual(['192.0.2.9']);
  });

  it('reprocesses waiting Services when namespace labels change', async () => {
    h.api.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b' } });
    h.api.objects.create(pool('team-only', ['192.0.2.64/30'], { serviceAllocation: { namespaceSelectors: [{ matchLabels: { team: 'b' } }] } }));
    h.api.objects.create(service('svc', { namespace: 'team-b' }));
    await h.start();
    await waitFor(() => eventsOf(h.api, 'svc', 'team-b').find((e) => e.reason === 'AllocationFailed'), 'no pool for the namespace yet');
    h.api.objects.patch('v1', 'Namespace', undefined, 'team-b', { metadata: { labels: { team: 'b' } } });
    expect(await waitFor(() => ingressOf(h.api, 'svc', 'team-b'), 'allocated after relabelling')).toEqual(['192.0.2.64']);
  });

  it('clears the status when a Service stops being a LoadBalancer', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30']));
    h.api.objects.create(service('web'));
    await h.start();
    await waitFor(() => ingressOf(h.api, 'web'), 'an IP');
    h.api.objects.patch('v1', 'Service', 'default', 'web', { spec: { type: 'ClusterIP' } });
    // A real API server drops status.loadBalancer itself when the type changes; the controller
    // releases the IP and removes its annotation.
    await waitFor(() => ingressOf(h.api, 'web') === undefined && annotationOf(h.api, 'web', POOL_ANNOTATION) === undefined, 'status and annotation cleared');
    expect(annotationOf(h.api, 'web', POOL_ANNOTATION)).toBeUndefined();
  });

  it('allocates despite an invalid L2Advertisement and a pool field it does not know', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30'], { aFieldFromTheFuture: { x: 1 } }));
    h.api.objects.create({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata: { name: 'broken', namespace: NS },
      spec: { nodeSelectors: [{ matchExpressions: [{ key: 'k', operator: 'Bogus' }] }] },
    });
    h.api.objects.create(service('web'));
    const c = await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'web'), 'web')).toEqual(['192.0.2.0']);
    expect((await scrape(c)).text).toContain('metallb_k8s_client_config_stale_bool 0');
  });

  it('keeps the last valid configuration when a pool becomes invalid, and says so', async () => {
    h.api.objects.create(pool('good', ['192.0.2.0/30']));
    h.api.objects.create(service('web'));
    const c = await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'web'), 'web')).toEqual(['192.0.2.0']);
    // Overlaps "good": the whole pool set is invalid.
    h.api.objects.create(pool('bad', ['192.0.2.0/24']));
    await waitFor(
      () => (h.api.objects.list('v1', 'Event', NS) as { reason?: string; involvedObject?: { name?: string } }[]).find((e) => e.reason === 'InvalidConfiguration'),
      'InvalidConfiguration event',
    );
    expect((await scrape(c)).text).toContain('metallb_k8s_client_config_stale_bool 1');
    // A Service asking for the invalid pool fails; the old one keeps its IP; new ones use the old config.
    h.api.objects.create(service('wants-bad', { annotations: { 'metallb.io/address-pool': 'bad' } }));
    h.api.objects.create(service('new'));
    await waitFor(() => eventsOf(h.api, 'wants-bad').find((e) => e.reason === 'AllocationFailed'), 'AllocationFailed');
    expect(eventsOf(h.api, 'wants-bad').find((e) => e.reason === 'AllocationFailed')?.message).toContain('unknown pool "bad"');
    expect(await waitFor(() => ingressOf(h.api, 'new'), 'new')).toEqual(['192.0.2.1']);
    expect(ingressOf(h.api, 'web')).toEqual(['192.0.2.0']);
    // Fixing it loads the new config.
    h.api.objects.delete('metallb.io/v1beta1', 'IPAddressPool', NS, 'bad');
    await waitFor(async () => (await scrape(c)).text.includes('metallb_k8s_client_config_stale_bool 0'), 'fresh config');
  });

  it('recovers from watches expired with 410 and from dropped watches, losing nothing', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/28']));
    h.api.objects.create(service('a'));
    const ctl = await h.start();
    await waitFor(() => ingressOf(h.api, 'a'), 'a');
    h.api.faults.compact();
    h.api.faults.expireWatches();
    h.api.objects.create(service('b'));
    h.api.objects.delete('v1', 'Service', 'default', 'a');
    expect(await waitFor(() => ingressOf(h.api, 'b'), 'b after 410')).toBeDefined();
    h.api.faults.dropAllWatches();
    h.api.objects.create(service('c'));
    expect(await waitFor(() => ingressOf(h.api, 'c'), 'c after a dropped watch')).toBeDefined();
    // The dropped watch stopped client-node's informer; ours restarted it.
    expect((await scrape(ctl)).text).toMatch(/l2vip_k8s_watch_errors_total\{resource="services"\} [1-9]/);
    // a was deleted while the watch was expired: its address went back and was reused.
    const all = [ingressOf(h.api, 'b'), ingressOf(h.api, 'c')].flat();
    expect(new Set(all).size).toBe(2);
    expect(all).toContain('192.0.2.0');
  });

  it('keeps every held address across a restart, whatever the order of the Services', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30']));
    // Held IPs that are not the first free ones; a new Service listed first must not take them.
    h.api.objects.create({ ...service('aaa-new') });
    h.api.objects.create({ ...service('zzz-held'), status: { loadBalancer: { ingress: [{ ip: '192.0.2.0' }] } } });
    await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'aaa-new'), 'aaa-new')).toEqual(['192.0.2.1']);
    expect(ingressOf(h.api, 'zzz-held')).toEqual(['192.0.2.0']);
  });

  it('handles only Services of its class', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30']));
    h.api.objects.create(service('theirs', { spec: { loadBalancerClass: 'example.com/other' } }));
    h.api.objects.create(service('ours'));
    await h.start();
    await waitFor(() => ingressOf(h.api, 'ours'), 'ours');
    await new Promise((r) => setTimeout(r, 200));
    expect(ingressOf(h.api, 'theirs')).toBeUndefined();
    expect(eventsOf(h.api, 'theirs')).toEqual([]);
  });

  it('with --lb-class, handles only Services of that class', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30']));
    h.api.objects.create(service('classless'));
    h.api.objects.create(service('other', { spec: { loadBalancerClass: 'example.com/other' } }));
    h.api.objects.create(service('mine', { spec: { loadBalancerClass: 'l2vip.io/lb' } }));
    await h.start('controller-a', 15, 'l2vip.io/lb');
    expect(await waitFor(() => ingressOf(h.api, 'mine'), 'mine')).toEqual(['192.0.2.0']);
    await new Promise((r) => setTimeout(r, 200));
    expect(ingressOf(h.api, 'classless')).toBeUndefined();
    expect(ingressOf(h.api, 'other')).toBeUndefined();
  });

  it('moves a Service whose pool changed under it, with ClearAssignment', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30']));
    h.api.objects.create(service('web'));
    await h.start();
    expect(await waitFor(() => ingressOf(h.api, 'web'), 'web')).toEqual(['192.0.2.0']);
    h.api.objects.patch('metallb.io/v1beta1', 'IPAddressPool', NS, 'main', { spec: { addresses: ['198.51.100.0/30'] } });
    expect(await waitFor(() => ingressOf(h.api, 'web')?.[0] === '198.51.100.0' && ingressOf(h.api, 'web'), 're-IPed')).toEqual(['198.51.100.0']);
    await waitFor(() => eventsOf(h.api, 'web').find((e) => e.reason === 'ClearAssignment'), 'ClearAssignment');
    expect(eventsOf(h.api, 'web').find((e) => e.reason === 'ClearAssignment')?.message).toContain('"192.0.2.0"');
  });

  it('rides out an API server that answers 503 for a while, then catches up', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/28']));
    h.api.objects.create(service('before'));
    const c = await h.start();
    await waitFor(() => ingressOf(h.api, 'before'), 'before');
    h.api.faults.refuseConnections(1500, '503');
    h.api.faults.dropAllWatches();
    h.api.objects.create(service('during'));
    h.api.objects.delete('v1', 'Service', 'default', 'before');
    expect(await waitFor(() => ingressOf(h.api, 'during'), 'during, after the outage', 15_000)).toHaveLength(1);
    // The deletion made during the outage was seen too: its address is free again.
    h.api.objects.create(service('after'));
    const taken = new Set([ingressOf(h.api, 'during')?.[0]]);
    const after = await waitFor(() => ingressOf(h.api, 'after'), 'after');
    expect(taken.has(after[0])).toBe(false);
    expect(['192.0.2.0', '192.0.2.1']).toContain(after[0]);
    expect((await scrape(c)).text).toMatch(/l2vip_k8s_watch_errors_total\{resource="services"\} [1-9]/);
  }, 20_000);

  it('retries a failed status write with back-off and counts the error', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/30']));
    const c = await h.start();
    await waitFor(() => c.controller.isLeader && c.controller.ready, 'leading');
    h.api.faults.injectFailure({ method: 'PATCH', path: '/api/v1/namespaces/default/services/web/status', code: 500, times: 2 });
    h.api.objects.create(service('web'));
    expect(await waitFor(() => ingressOf(h.api, 'web'), 'web after retries', 10_000)).toEqual(['192.0.2.0']);
    const failed = h.api.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/services/web/status') && r.status === 500);
    expect(failed).toHaveLength(2);
    expect((await scrape(c)).text).toContain('metallb_k8s_client_update_errors_total 2');
  });

  it('allocates to a few hundred Services created at once, each a distinct IP', async () => {
    h.api.objects.create(pool('main', ['10.10.0.0/23']));
    const n = 300;
    for (let i = 0; i < n; i++) h.api.objects.create(service(`bulk-${i}`));
    await h.start();
    const ips = await waitFor(() => {
      const all = Array.from({ length: n }, (_, i) => ingressOf(h.api, `bulk-${i}`)?.[0]);
      return all.every((ip) => ip !== undefined) && all;
    }, 'every bulk Service', 30_000);
    expect(new Set(ips).size).toBe(n);
  }, 40_000);

  it('on SIGTERM the process releases the Lease and exits 0', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/28']));
    const a = spawnController(h.kubeconfig, 'controller-a', 15);
    try {
      await waitFor(() => leaseHolder(h.api) === 'controller-a', 'a leads', 20_000);
      const exited = new Promise<number | null>((resolve) => a.once('exit', (code) => resolve(code)));
      a.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(leaseHolder(h.api)).toBeUndefined();
    } finally {
      a.kill('SIGKILL');
    }
  }, 30_000);

  it('runs one active replica; a standby takes over when the Lease expires', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/28']));
    h.api.objects.create(service('one'));
    // a: a real process, so that SIGKILL leaves its Lease behind as a crash would.
    const a = spawnController(h.kubeconfig, 'controller-a', 2);
    try {
      await waitFor(() => leaseHolder(h.api) === 'controller-a', 'a leads', 20_000);
      expect(await waitFor(() => ingressOf(h.api, 'one'), 'one from a')).toEqual(['192.0.2.0']);
      const b = await h.start('controller-b', 2);
      await waitFor(() => b.controller.ready, 'b ready');
      await new Promise((r) => setTimeout(r, 800));
      expect(b.controller.isLeader).toBe(false);
      expect((await scrape(b)).text).toContain('l2vip_controller_leader 0');
      expect(leaseHolder(h.api)).toBe('controller-a');
      const died = Date.now();
      a.kill('SIGKILL');
      await waitFor(() => b.controller.isLeader, 'b takes over', 10_000);
      const took = Date.now() - died;
      // Not before the lease duration (2 s) since a's last renewal, and soon after it.
      expect(took).toBeGreaterThanOrEqual(1000);
      expect(took).toBeLessThan(5000);
      expect(leaseHolder(h.api)).toBe('controller-b');
      h.api.objects.create(service('two'));
      expect(await waitFor(() => ingressOf(h.api, 'two'), 'two from b')).toEqual(['192.0.2.1']);
      expect(ingressOf(h.api, 'one')).toEqual(['192.0.2.0']);
    } finally {
      a.kill('SIGKILL');
    }
  }, 40_000);

  it('hands the Lease over at once on a clean stop', async () => {
    h.api.objects.create(pool('main', ['192.0.2.0/28']));
    const a = await h.start('controller-a', 15);
    await waitFor(() => a.controller.isLeader, 'a leads');
    const b = await h.start('controller-b', 15);
    await waitFor(() => b.controller.ready, 'b ready');
    await a.stop();
    h.controllers.splice(h.controllers.indexOf(a), 1);
    // Released: b need not wait the 15 s lease duration.
    await waitFor(() => b.controller.isLeader, 'b takes over', 5000);
    h.api.objects.create(service('web'));
    expect(await waitFor(() => ingressOf(h.api, 'web'), 'web from b')).toEqual(['192.0.2.0']);
  });
});
