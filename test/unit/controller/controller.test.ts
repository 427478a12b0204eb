import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { annotationOf, eventsOf, ingressOf, NS, pool, scrape, service, startHarness, waitFor, type Harness } from './harness.js';

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
});
