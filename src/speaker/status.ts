import type { OwnedLookup } from '../announcer/announcer.js';
import { canonicalIp } from '../announcer/owned-ips.js';
import type { MemberState, MembershipView } from '../membership/membership.js';
import type { ConflictEpisode } from './conflict-episodes.js';
import type { ServiceOwnership } from './failover.js';
import type { TakeoverCause } from './speaker.js';

/**
 * The JSON document GET /status serves and `l2vip status --output json` prints. Documented in
 * docs/status.md. Fields are only ever added within a schema version; a removal or a change of
 * meaning bumps `schemaVersion`.
 */
export const STATUS_SCHEMA_VERSION = 1;

export interface StatusDocument {
  readonly schemaVersion: typeof STATUS_SCHEMA_VERSION;
  readonly node: string;
  /** standalone, announce or kubernetes. */
  readonly mode: string;
  /** When this document was made (ISO 8601, UTC). */
  readonly generatedAt: string;
  readonly services: readonly StatusService[];
  readonly peers: readonly StatusPeer[];
  readonly conflicts: readonly StatusConflict[];
  readonly health: StatusHealth;
}

export interface StatusService {
  readonly name: string;
  readonly addresses: readonly string[];
  /** The node that announces it, as this node sees it; null: no node can. */
  readonly owner: string | null;
  /** Interfaces this node announces it on now (empty unless this node is the owner). */
  readonly interfaces: readonly string[];
  /** When this node saw the current owner take it (ISO); null: not known. */
  readonly ownedSince: string | null;
  readonly lastFailover: StatusFailover | null;
}

export interface StatusFailover {
  readonly at: string;
  readonly from: string | null;
  readonly to: string | null;
  readonly cause: TakeoverCause;
  /** Measured by the node that took over only (previous owner declared dead → its first gratuitous announcement); null elsewhere. */
  readonly durationMs: number | null;
}

export interface StatusPeer {
  readonly name: string;
  readonly address: string;
  readonly state: MemberState;
  readonly incarnation: number;
  /** ms since the last evidence it is alive; null: never heard. */
  readonly lastHeardMsAgo: number | null;
}

export interface StatusConflict {
  readonly ip: string;
  readonly iface: string;
  readonly service: string | null;
  readonly ourMac: string | null;
  readonly otherMac: string;
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** Conflicting frames in the episode. */
  readonly count: number;
  readonly action: 'defend' | 'yield' | 'none';
  /** A frame came less than 30 s ago. */
  readonly ongoing: boolean;
  /** Only one of our own speakers during a passing disagreement of desired states or views (logged at debug). */
  readonly transient: boolean;
}

export interface StatusHealth {
  /** /healthz would answer 200. */
  readonly healthy: boolean;
  readonly problems: readonly string[];
  /** /readyz would answer 200. */
  readonly ready: boolean;
  readonly notReady: readonly string[];
}

/** What the runtime gathers for a status document. */
export interface StatusInput {
  readonly node: string;
  readonly mode: string;
  /** Clock time now, and how to turn a clock time into wall time (ms since the epoch). */
  readonly now: number;
  readonly toWall: (clockMs: number) => number;
  readonly services: readonly { readonly name: string; readonly addresses: readonly string[]; readonly owner: string | undefined }[];
  readonly ownership: (service: string) => ServiceOwnership | undefined;
  /** Canonical IP -> interfaces this node announces it on (the announcer's current set). */
  readonly owned: OwnedLookup;
  readonly view: MembershipView;
  readonly conflicts: readonly (Readonly<ConflictEpisode> & { readonly ongoing: boolean })[];
  readonly problems: readonly string[];
  readonly notReady: readonly string[];
}

/** Assembles the status document (pure). */
export function buildStatus(i: StatusInput): StatusDocument {
  const iso = isoOf(i);
  return { ...statusHead(i, iso), services: i.services.map((s) => statusService(i, s, iso)), ...statusTail(i, iso) };
}

/** Services whose part of the status text is built in one slice (see statusJsonSlices). */
export const STATUS_SLICE_SERVICES = 250;

/**
 * `${JSON.stringify(buildStatus(i), null, 2)}\n`, in slices of STATUS_SLICE_SERVICES services,
 * each built only when it is asked for: the metrics server writes one slice per event-loop turn,
 * so a status of 10 000 services (3.5 MB, 50 to 150 ms to build and serialise) never holds the
 * loop the failure detector shares. The services are those of when the first slice is built.
 */
export function* statusJsonSlices(i: StatusInput): Generator<string, void, undefined> {
  const iso = isoOf(i);
  const outline = JSON.stringify({ ...statusHead(i, iso), services: [], ...statusTail(i, iso) }, null, 2);
  const marker = '\n  "services": []';
  const at = outline.indexOf(marker) + marker.length - 2;
  if (i.services.length === 0) {
    yield `${outline}\n`;
    return;
  }
  let out = `${outline.slice(0, at)}[`;
  for (let k = 0; k < i.services.length; k++) {
    out += `${k === 0 ? '' : ','}\n    ${JSON.stringify(statusService(i, i.services[k]!, iso), null, 2).replace(/\n/g, '\n    ')}`;
    if ((k + 1) % STATUS_SLICE_SERVICES === 0) {
      yield out;
      out = '';
    }
  }
  yield `${out}\n  ]${outline.slice(at + 2)}\n`;
}

function isoOf(i: StatusInput): (t: number) => string {
  return (t) => new Date(i.toWall(t)).toISOString();
}

function statusHead(i: StatusInput, iso: (t: number) => string): Pick<StatusDocument, 'schemaVersion' | 'node' | 'mode' | 'generatedAt'> {
  return { schemaVersion: STATUS_SCHEMA_VERSION, node: i.node, mode: i.mode, generatedAt: iso(i.now) };
}

function statusService(i: StatusInput, s: StatusInput['services'][number], iso: (t: number) => string): StatusService {
  const o = i.ownership(s.name);
  const f = o?.lastFailover;
  const ifaces = new Set<string>();
  for (const a of s.addresses) for (const n of i.owned.get(a) ?? i.owned.get(canonicalIp(a)) ?? []) ifaces.add(n);
  return {
    name: s.name,
    addresses: [...s.addresses],
    owner: s.owner ?? null,
    interfaces: [...ifaces].sort(),
    ownedSince: o?.since === undefined || o.owner !== s.owner ? null : iso(o.since),
    lastFailover:
      f === undefined ? null : { at: iso(f.at), from: f.from ?? null, to: f.to ?? null, cause: f.cause, durationMs: f.durationMs === undefined ? null : Math.round(f.durationMs * 1000) / 1000 },
  };
}

function statusTail(i: StatusInput, iso: (t: number) => string): Pick<StatusDocument, 'peers' | 'conflicts' | 'health'> {
  return {
    peers: [...i.view.members.values()]
      .filter((m) => !m.self)
      .map((m) => ({ name: m.name, address: m.address, state: m.state, incarnation: m.incarnation, lastHeardMsAgo: m.lastHeardMsAgo === undefined ? null : Math.round(m.lastHeardMsAgo) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    conflicts: i.conflicts.map((c) => ({
      ip: c.ip,
      iface: c.iface,
      service: c.service ?? null,
      ourMac: c.ourMac ?? null,
      otherMac: c.otherMac,
      firstSeen: iso(c.firstSeen),
      lastSeen: iso(c.lastSeen),
      count: c.count,
      action: c.action,
      ongoing: c.ongoing,
      transient: c.transient,
    })),
    health: { healthy: i.problems.length === 0, problems: [...i.problems], ready: i.notReady.length === 0, notReady: [...i.notReady] },
  };
}
