import { ConfigError } from '../errors.js';
import { formatCidr } from '../ip/cidr.js';
import { describeRange, parsePoolAddress, type PoolAddress } from './addresses.js';
import { deepFreeze } from './deep-freeze.js';
import { formatFieldPath } from './field-path.js';
import { CONFIG_ERROR_CODES as E, CONFIG_WARNING_CODES as W, type ConfigIssueCode } from './issue-codes.js';
import {
  formatSelector,
  labelKeyProblem,
  labelValueProblem,
  matchesSelector,
  selectorIdentity,
  validateLabelSelector,
  type LabelSelector,
  type Labels,
  type SelectorOperator,
} from './label-selector.js';
import {
  closest,
  IPAddressPoolSchema,
  L2AdvertisementSchema,
  schemaProblems,
  metallbValidators,
  type IPAddressPoolInput,
  type L2AdvertisementInput,
  type LabelSelectorInput,
} from './schema.js';
import type { Config, ConfigIssue, ConfigObjectRef, ConfigParseResult, L2Advertisement, Pool, ServiceAllocation } from './types.js';
import { readYamlDocuments, type SourceDocument } from './yaml-source.js';

/** One input: YAML (or JSON) text, possibly several documents, or an already-parsed object. */
export type ConfigInput = { readonly file?: string; readonly text: string } | { readonly file?: string; readonly object: unknown };

export const METALLB_API_VERSION = 'metallb.io/v1beta1';
const OUR_KINDS = ['IPAddressPool', 'L2Advertisement'] as const;
type OurKind = (typeof OUR_KINDS)[number];
const BGP_KINDS = ['BGPPeer', 'BGPAdvertisement', 'Community', 'BFDProfile'];
// Objects MetalLB writes about its own state; never configuration.
const STATUS_KINDS = ['ServiceL2Status', 'ServiceBGPStatus', 'ConfigurationState'];
const METALLB_GROUP = 'metallb.io';

// Kubernetes object names (CRs): RFC 1123 subdomain, at most 253 characters.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Linux dev_valid_name(): 1 to 15 bytes, not "." or "..", no '/', ':' or white space.
const IFNAMSIZ = 16;

/** Where an object is: its document and the path of the object inside it (for `kind: List`). */
interface Location {
  readonly doc: SourceDocument;
  readonly prefix: readonly string[];
  readonly ordinal: number;
  readonly ref?: ConfigObjectRef;
}

interface PoolRecord {
  readonly loc: Location;
  readonly name: string;
  readonly input: IPAddressPoolInput;
  labelsValid: boolean;
  readonly entries: { index: number; parsed: PoolAddress & { ok: true } }[];
}

interface L2Record {
  readonly loc: Location;
  readonly name: string;
  readonly input: L2AdvertisementInput;
  /** Indices of ipAddressPoolSelectors that are valid (only those are matched). */
  readonly validPoolSelectors: number[];
}

interface NamedObject {
  readonly kind: OurKind;
  readonly name: string;
  readonly loc: Location;
}

class IssueCollector {
  readonly errors: (ConfigIssue & { ordinal: number })[] = [];
  readonly warnings: (ConfigIssue & { ordinal: number })[] = [];

  add(severity: 'error' | 'warning', code: ConfigIssueCode, loc: Location | undefined, path: readonly string[], message: string): void {
    const pos = loc?.doc.locate([...loc.prefix, ...path]);
    const issue: ConfigIssue & { ordinal: number } = {
      code,
      severity,
      ...(loc?.doc.file !== undefined ? { file: loc.doc.file } : {}),
      ...(pos ? { line: pos.line, column: pos.column } : {}),
      ...(loc ? { document: loc.doc.index } : {}),
      ...(loc?.ref ? { object: loc.ref } : {}),
      path: formatFieldPath(path),
      message,
      ordinal: loc?.ordinal ?? Number.MAX_SAFE_INTEGER,
    };
    (severity === 'error' ? this.errors : this.warnings).push(issue);
  }

  error(code: ConfigIssueCode, loc: Location | undefined, path: readonly string[], message: string): void {
    this.add('error', code, loc, path, message);
  }

  warn(code: ConfigIssueCode, loc: Location | undefined, path: readonly string[], message: string): void {
    this.add('warning', code, loc, path, message);
  }

  sorted(list: (ConfigIssue & { ordinal: number })[]): ConfigIssue[] {
    return list
      .map((issue, i) => ({ issue, i }))
      .sort((a, b) => a.issue.ordinal - b.issue.ordinal || (a.issue.line ?? 0) - (b.issue.line ?? 0) || a.i - b.i)
      .map(({ issue }) => {
        const { ordinal: _ordinal, ...rest } = issue;
        return rest;
      });
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Drops null-valued fields at every depth, as the API server prunes them from custom resources. */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = withoutNulls(x);
  return out;
}

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  return typeof v === 'string' ? `the string ${JSON.stringify(v)}` : `${typeof v} ${JSON.stringify(v)}`;
}

function nameProblem(name: string): string | undefined {
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    return `${JSON.stringify(name)} is not a valid object name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters)`;
  }
  return undefined;
}

function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length >= IFNAMSIZ || name === '.' || name === '..' || /[/:\s]/.test(name)) {
    return `no Linux interface can be named ${JSON.stringify(name)} (1 to 15 characters, no '/', ':' or spaces): this entry never matches`;
  }
  return undefined;
}

function toSelector(s: LabelSelectorInput): LabelSelector {
  return {
    ...(s.matchLabels ? { matchLabels: { ...s.matchLabels } } : {}),
    ...(s.matchExpressions
      ? {
          matchExpressions: s.matchExpressions.map((e) => ({
            key: e.key,
            operator: e.operator as SelectorOperator,
            ...(e.values ? { values: [...e.values] } : {}),
          })),
        }
      : {}),
  };
}

function looksLikeLegacyConfigMap(obj: Record<string, unknown>): boolean {
  const data = obj.data;
  return isPlainObject(data) && typeof data.config === 'string' && /address-pools|peers:/.test(data.config);
}

export interface ParseOptions {
  /**
   * 'error' (default, for files): an unknown field invalidates its object. 'warn' (for objects
   * read from the API server, which prunes unknown fields unless the CRD preserves them): a
   * warning, and the object is read without the field, so a newer CRD never breaks l2vip.
   */
  readonly unknownFields?: 'error' | 'warn';
}

/** Removes the field at `segments` from `obj` (a fresh copy from withoutNulls). */
function deleteAt(obj: unknown, segments: readonly string[]): void {
  let cur: unknown = obj;
  for (const seg of segments.slice(0, -1)) {
    if (!isPlainObject(cur) && !Array.isArray(cur)) return;
    cur = (cur as Record<string, unknown>)[seg];
  }
  const last = segments[segments.length - 1];
  if (last !== undefined && isPlainObject(cur)) delete cur[last];
}

/** Parses and validates every input; see ConfigParseResult. */
export function parseConfig(inputs: readonly ConfigInput[], options: ParseOptions = {}): ConfigParseResult {
  const lenientFields = options.unknownFields === 'warn';
  const issues = new IssueCollector();
  const pools: PoolRecord[] = [];
  const l2s: L2Record[] = [];
  const named: NamedObject[] = [];
  let ordinal = 0;
  let sawAnything = false;
  let sawPoolKind = false;

  const visit = (doc: SourceDocument, value: unknown, prefix: readonly string[]): void => {
    sawAnything = true;
    const bare: Location = { doc, prefix, ordinal: ordinal++ };
    if (!isPlainObject(value)) {
      issues.error(
        E.notAnObject,
        bare,
        [],
        `expected an object with apiVersion, kind, metadata and spec, found ${describeValue(value)}`,
      );
      return;
    }
    const obj = withoutNulls(value) as Record<string, unknown>;
    const kind = obj.kind;
    const apiVersion = obj.apiVersion;
    if (typeof kind !== 'string' || kind === '') {
      issues.error(
        E.missingKind,
        bare,
        ['kind'],
        `missing "kind": every object needs apiVersion and kind, e.g. apiVersion: ${METALLB_API_VERSION} and kind: IPAddressPool`,
      );
      return;
    }
    if (kind.endsWith('List') && Array.isArray(obj.items)) {
      obj.items.forEach((item, i) => visit(doc, item, [...prefix, 'items', String(i)]));
      return;
    }
    const metadata = isPlainObject(obj.metadata) ? obj.metadata : {};
    const name = typeof metadata.name === 'string' ? metadata.name : '';
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : undefined;
    const loc: Location = { ...bare, ref: { kind, name, ...(namespace !== undefined ? { namespace } : {}) } };
    const group = typeof apiVersion === 'string' && apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';

    if ((OUR_KINDS as readonly string[]).includes(kind)) {
      const ourKind = kind as OurKind;
      if (ourKind === 'IPAddressPool') sawPoolKind = true;
      if (apiVersion !== METALLB_API_VERSION) {
        const why =
          typeof apiVersion !== 'string'
            ? 'missing "apiVersion"'
            : `${ourKind} is not served as ${JSON.stringify(apiVersion)}`;
        issues.error(E.apiVersion, loc, ['apiVersion'], `${why}: write apiVersion: ${METALLB_API_VERSION}`);
      }
      if (name !== '') named.push({ kind: ourKind, name, loc });
      const validate = metallbValidators()[ourKind];
      const schema = ourKind === 'IPAddressPool' ? IPAddressPoolSchema : L2AdvertisementSchema;
      let valid = validate(obj);
      if (!valid && lenientFields) {
        const problems = schemaProblems(schema, obj, validate.errors ?? []);
        if (problems.every((p) => p.unknownField)) {
          for (const p of problems) {
            issues.warn(W.unknownField, loc, p.segments, `${p.message}: ignored (this l2vip does not know the field)`);
            deleteAt(obj, p.segments);
          }
          valid = validate(obj);
        }
      }
      if (!valid) {
        for (const p of schemaProblems(schema, obj, validate.errors ?? [])) {
          issues.error(p.unknownField ? E.unknownField : E.schema, loc, p.segments, p.message);
        }
      } else if (ourKind === 'IPAddressPool') {
        pools.push({ loc, name, input: obj as IPAddressPoolInput, labelsValid: true, entries: [] });
      } else {
        l2s.push({ loc, name, input: obj as L2AdvertisementInput, validPoolSelectors: [] });
      }
      return;
    }
    if (group === METALLB_GROUP && BGP_KINDS.includes(kind)) {
      issues.warn(W.bgpUnsupported, loc, [], `${kind} is not supported by l2vip (layer 2 only): ignored`);
      return;
    }
    if (group === METALLB_GROUP && STATUS_KINDS.includes(kind)) {
      issues.warn(W.ignoredKind, loc, [], `${kind} is a status object MetalLB writes, not configuration: ignored`);
      return;
    }
    const suggestion = closest(kind, OUR_KINDS);
    if (group === METALLB_GROUP || (suggestion && group.startsWith('metallb'))) {
      const known = [...OUR_KINDS, ...BGP_KINDS, ...STATUS_KINDS];
      const guess = closest(kind, known);
      issues.error(
        E.unknownKind,
        loc,
        ['kind'],
        `unknown kind ${JSON.stringify(kind)} for ${JSON.stringify(apiVersion)}${guess ? `: did you mean "${guess}"?` : `: l2vip reads ${OUR_KINDS.join(' and ')}`}`,
      );
      return;
    }
    if (kind === 'ConfigMap' && looksLikeLegacyConfigMap(obj)) {
      issues.warn(
        W.legacyConfigMap,
        loc,
        ['data', 'config'],
        'MetalLB configuration in a ConfigMap was removed in MetalLB 0.13 and neither MetalLB nor l2vip reads it: convert it to IPAddressPool and L2Advertisement objects (MetalLB ships a configmaptocrs converter)',
      );
      return;
    }
    issues.warn(
      W.ignoredKind,
      loc,
      [],
      `${typeof apiVersion === 'string' ? `${apiVersion} ` : ''}${kind} is not l2vip configuration: ignored`,
    );
  };

  for (const input of inputs) {
    if ('text' in input) {
      const { documents, problems } = readYamlDocuments(input.text, input.file);
      for (const p of problems) {
        const doc: SourceDocument = {
          ...(p.file !== undefined ? { file: p.file } : {}),
          index: p.document,
          value: undefined,
          locate: () => p.position,
        };
        sawAnything = true;
        issues.error(E.yamlSyntax, { doc, prefix: [], ordinal: ordinal++ }, [], `YAML syntax error: ${p.message}`);
      }
      for (const doc of documents) visit(doc, doc.value, []);
    } else {
      const doc: SourceDocument = {
        ...(input.file !== undefined ? { file: input.file } : {}),
        index: ordinal,
        value: input.object,
        locate: () => undefined,
      };
      if (input.object !== null && input.object !== undefined) visit(doc, input.object, []);
    }
  }

  for (const pool of pools) checkPool(issues, pool);
  for (const l2 of l2s) checkL2Advertisement(issues, l2);
  checkDuplicateNames(issues, named);
  checkOverlaps(issues, pools);
  checkNamespaces(issues, named);
  const resolved = resolveAdvertisements(issues, pools, l2s, named);

  if (!sawAnything) {
    issues.warn(W.emptyInput, undefined, [], 'no objects found: the configuration is empty');
  } else if (!sawPoolKind) {
    issues.warn(W.noPools, undefined, [], 'no IPAddressPool: no Service can get an IP');
  }

  const errors = issues.sorted(issues.errors);
  const warnings = issues.sorted(issues.warnings);
  if (errors.length > 0) return { errors, warnings };
  return { config: buildConfig(pools, l2s, resolved), errors, warnings };
}

/** Parses objects as read from the API server (or any list of plain objects). */
export function parseConfigObjects(objects: readonly unknown[], options: ParseOptions = {}): ConfigParseResult {
  return parseConfig(
    objects.map((object) => ({ object })),
    options,
  );
}

/** Parses one YAML text (several documents allowed). */
export function parseConfigText(text: string, file?: string): ConfigParseResult {
  return parseConfig([{ text, ...(file !== undefined ? { file } : {}) }]);
}

/** The config of `result`, or a ConfigError listing every error. */
export function assertValidConfig(result: ConfigParseResult): Config {
  if (result.config) return result.config;
  const first = result.errors[0];
  const summary = first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'invalid configuration';
  throw new ConfigError(
    `invalid configuration (${result.errors.length} error${result.errors.length === 1 ? '' : 's'}): ${summary}`,
    result.errors.map((e) => ({ path: e.path, message: e.message, code: e.code })),
  );
}

function checkName(issues: IssueCollector, loc: Location, kind: OurKind, name: string): boolean {
  if (name === '') {
    issues.error(E.nameMissing, loc, ['metadata', 'name'], `missing ${kind} name: set metadata.name`);
    return false;
  }
  const problem = nameProblem(name);
  if (problem) {
    issues.error(E.nameInvalid, loc, ['metadata', 'name'], problem);
    return false;
  }
  return true;
}

function checkLabels(issues: IssueCollector, loc: Location, labels: Labels | undefined): boolean {
  let ok = true;
  for (const [k, v] of Object.entries(labels ?? {})) {
    for (const problem of [labelKeyProblem(k), labelValueProblem(v)]) {
      if (problem) {
        issues.error(E.labelInvalid, loc, ['metadata', 'labels', k], problem);
        ok = false;
      }
    }
  }
  return ok;
}

/**
 * Checks a list of selectors: each one valid, no duplicate inside (MetalLB's
 * validateLabelSelectorDuplicate). Returns the indices of valid ones.
 */
function checkSelectorList(
  issues: IssueCollector,
  loc: Location,
  base: readonly string[],
  selectors: readonly LabelSelectorInput[] | undefined,
): { ok: boolean; valid: number[] } {
  let ok = true;
  const valid: number[] = [];
  const seen = new Map<string, number>();
  const listName = base[base.length - 1] ?? '';
  (selectors ?? []).forEach((sel, i) => {
    let selectorOk = true;
    for (const p of validateLabelSelector(sel)) {
      issues.error(p.kind === 'invalid' ? E.selectorInvalid : E.duplicateEntry, loc, [...base, String(i), ...p.segments], p.message);
      ok = false;
      if (p.kind === 'invalid') selectorOk = false;
    }
    if (selectorOk) valid.push(i);
    const identity = selectorIdentity(sel);
    const first = seen.get(identity);
    if (first !== undefined) {
      const text = selectorOk ? formatSelector(toSelector(sel)) : '';
      issues.error(
        E.duplicateEntry,
        loc,
        [...base, String(i)],
        `duplicate of ${listName}[${first}]${text ? ` (${text})` : ''}: remove one`,
      );
      ok = false;
    } else {
      seen.set(identity, i);
    }
  });
  return { ok, valid };
}

function checkDuplicateStrings(
  issues: IssueCollector,
  loc: Location,
  base: readonly string[],
  values: readonly string[] | undefined,
  severity: 'error' | 'warning',
  code: ConfigIssueCode,
  what: string,
): boolean {
  const first = new Map<string, number>();
  let ok = true;
  (values ?? []).forEach((v, i) => {
    const at = first.get(v);
    if (at === undefined) {
      first.set(v, i);
      return;
    }
    const listName = base[base.length - 1] ?? '';
    issues.add(severity, code, loc, [...base, String(i)], `${what} ${JSON.stringify(v)} is listed twice (also ${listName}[${at}]): remove one`);
    ok = false;
  });
  return ok;
}

function checkPool(issues: IssueCollector, pool: PoolRecord): void {
  const { loc, input } = pool;
  checkName(issues, loc, 'IPAddressPool', pool.name);
  pool.labelsValid = checkLabels(issues, loc, input.metadata?.labels);
  const addresses = input.spec.addresses;
  if (addresses.length === 0) {
    issues.error(
      E.noAddresses,
      loc,
      ['spec', 'addresses'],
      'the pool has no addresses: list at least one CIDR ("192.168.10.0/24") or range ("192.168.10.10-192.168.10.20")',
    );
  }
  addresses.forEach((text, index) => {
    const parsed = parsePoolAddress(text);
    if (!parsed.ok) {
      issues.error(parsed.code, loc, ['spec', 'addresses', String(index)], parsed.message);
      return;
    }
    if (parsed.normalizedFrom !== undefined) {
      issues.warn(
        W.hostBits,
        loc,
        ['spec', 'addresses', String(index)],
        `${JSON.stringify(text)} has host bits set: it means the whole network ${parsed.normalizedFrom}; write that, or a /${parsed.family === 4 ? 32 : 128} for one address`,
      );
    }
    pool.entries.push({ index, parsed });
  });
  const sa = input.spec.serviceAllocation;
  if (sa) {
    const base = ['spec', 'serviceAllocation'];
    checkDuplicateStrings(issues, loc, [...base, 'namespaces'], sa.namespaces, 'error', E.duplicateEntry, 'namespace');
    checkSelectorList(issues, loc, [...base, 'namespaceSelectors'], sa.namespaceSelectors);
    checkSelectorList(issues, loc, [...base, 'serviceSelectors'], sa.serviceSelectors);
    if (sa.priority !== undefined && sa.priority < 0) {
      issues.warn(
        W.negativePriority,
        loc,
        [...base, 'priority'],
        `priority ${sa.priority} is negative: MetalLB orders it unpredictably; l2vip treats it as unset (after every positive priority). Use 1 for the highest priority`,
      );
    }
  }
}

function checkL2Advertisement(issues: IssueCollector, l2: L2Record): void {
  const { loc } = l2;
  const spec = l2.input.spec ?? {};
  checkName(issues, loc, 'L2Advertisement', l2.name);
  checkLabels(issues, loc, l2.input.metadata?.labels);
  checkDuplicateStrings(issues, loc, ['spec', 'ipAddressPools'], spec.ipAddressPools, 'error', E.duplicateEntry, 'pool');
  const poolSelectors = checkSelectorList(issues, loc, ['spec', 'ipAddressPoolSelectors'], spec.ipAddressPoolSelectors);
  l2.validPoolSelectors.push(...poolSelectors.valid);
  checkSelectorList(issues, loc, ['spec', 'nodeSelectors'], spec.nodeSelectors);
  checkSelectorList(issues, loc, ['spec', 'serviceSelectors'], spec.serviceSelectors);
  // MetalLB only parses preferences (no duplicate checks: equal preferences add up their weights).
  (spec.preferredNodeSelectors ?? []).forEach((p, i) => {
    for (const problem of validateLabelSelector(p.preference)) {
      if (problem.kind !== 'invalid') continue;
      issues.error(E.selectorInvalid, loc, ['spec', 'preferredNodeSelectors', String(i), 'preference', ...problem.segments], problem.message);
    }
  });
  checkDuplicateStrings(issues, loc, ['spec', 'interfaces'], spec.interfaces, 'warning', W.duplicateInterface, 'interface');
  (spec.interfaces ?? []).forEach((name, i) => {
    const problem = interfaceNameProblem(name);
    if (problem) issues.warn(W.interfaceName, loc, ['spec', 'interfaces', String(i)], problem);
  });
}

function where(loc: Location): string {
  const parts: string[] = [];
  if (loc.doc.file !== undefined) parts.push(loc.doc.file);
  const pos = loc.doc.locate(loc.prefix);
  if (pos) parts.push(`line ${pos.line}`);
  else parts.push(`document ${loc.doc.index + 1}`);
  return parts.join(', ');
}

function checkDuplicateNames(issues: IssueCollector, named: readonly NamedObject[]): void {
  const first = new Map<string, NamedObject>();
  for (const obj of named) {
    const key = `${obj.kind}\u0000${obj.name}`;
    const earlier = first.get(key);
    if (!earlier) {
      first.set(key, obj);
      continue;
    }
    issues.error(
      E.duplicateName,
      obj.loc,
      ['metadata', 'name'],
      `duplicate ${obj.kind} name ${JSON.stringify(obj.name)}: also defined at ${where(earlier.loc)}; names must be unique`,
    );
  }
}

function checkOverlaps(issues: IssueCollector, pools: readonly PoolRecord[]): void {
  interface Entry {
    pool: PoolRecord;
    index: number;
    text: string;
    order: number;
    parsed: PoolAddress & { ok: true };
  }
  const entries: Entry[] = [];
  let order = 0;
  for (const pool of pools) {
    for (const { index, parsed } of pool.entries) {
      entries.push({ pool, index, parsed, order: order++, text: pool.input.spec.addresses[index] ?? '' });
    }
  }
  entries.sort(
    (a, b) =>
      a.parsed.family - b.parsed.family ||
      (a.parsed.range.start < b.parsed.range.start ? -1 : a.parsed.range.start > b.parsed.range.start ? 1 : 0) ||
      a.order - b.order,
  );
  let reach: Entry | undefined;
  for (const cur of entries) {
    if (reach && reach.parsed.family === cur.parsed.family && cur.parsed.range.start <= reach.parsed.range.end) {
      const [earlier, later] = reach.order < cur.order ? [reach, cur] : [cur, reach];
      const same =
        earlier.parsed.range.start === later.parsed.range.start && earlier.parsed.range.end === later.parsed.range.end;
      const other =
        earlier.pool === later.pool
          ? `spec.addresses[${earlier.index}] of this pool`
          : `spec.addresses[${earlier.index}] of IPAddressPool ${JSON.stringify(earlier.pool.name)}`;
      issues.error(
        E.addressOverlap,
        later.pool.loc,
        ['spec', 'addresses', String(later.index)],
        same
          ? `${JSON.stringify(later.text)} is the same range as ${JSON.stringify(earlier.text)} (${other}): addresses may belong to one entry of one pool only`
          : `${JSON.stringify(later.text)} (${describeRange(later.parsed.range)}) overlaps ${JSON.stringify(earlier.text)} (${describeRange(earlier.parsed.range)}, ${other}): addresses may belong to one entry of one pool only`,
      );
    }
    if (!reach || reach.parsed.family !== cur.parsed.family || cur.parsed.range.end > reach.parsed.range.end) reach = cur;
  }
}

function checkNamespaces(issues: IssueCollector, named: readonly NamedObject[]): void {
  const seen = new Map<string, NamedObject>();
  for (const obj of named) {
    const ns = obj.loc.ref?.namespace;
    if (ns !== undefined && !seen.has(ns)) seen.set(ns, obj);
  }
  if (seen.size < 2) return;
  const all = [...seen.keys()].map((n) => JSON.stringify(n)).join(', ');
  for (const obj of [...seen.values()].slice(1)) {
    issues.warn(
      W.mixedNamespaces,
      obj.loc,
      ['metadata', 'namespace'],
      `objects are in several namespaces (${all}): MetalLB reads only its own namespace (metallb-system by default), so some of them would be ignored`,
    );
  }
}

/** Pool names each L2Advertisement announces (exactly MetalLB's setL2AdvertisementsToPools). */
function resolveAdvertisements(
  issues: IssueCollector,
  pools: readonly PoolRecord[],
  l2s: readonly L2Record[],
  named: readonly NamedObject[],
): Map<L2Record, string[]> {
  const allPoolNames = new Set(named.filter((n) => n.kind === 'IPAddressPool').map((n) => n.name));
  const poolLabels = pools.filter((p) => p.labelsValid).map((p) => ({ name: p.name, labels: p.input.metadata?.labels ?? {} }));
  const out = new Map<L2Record, string[]>();
  for (const l2 of l2s) {
    const spec = l2.input.spec ?? {};
    const names = spec.ipAddressPools ?? [];
    const selectors = spec.ipAddressPoolSelectors ?? [];
    const chosen = new Set<string>();
    if (names.length === 0 && selectors.length === 0) {
      for (const p of allPoolNames) chosen.add(p);
    } else {
      names.forEach((n, i) => {
        if (allPoolNames.has(n)) {
          chosen.add(n);
          return;
        }
        const guess = closest(n, [...allPoolNames]);
        issues.warn(
          W.poolNotFound,
          l2.loc,
          ['spec', 'ipAddressPools', String(i)],
          `IPAddressPool ${JSON.stringify(n)} does not exist: this entry announces nothing${guess ? ` (did you mean "${guess}"?)` : ''}`,
        );
      });
      for (const i of l2.validPoolSelectors) {
        const sel = toSelector(selectors[i] as LabelSelectorInput);
        const matched = poolLabels.filter((p) => matchesSelector(p.labels, sel));
        for (const m of matched) chosen.add(m.name);
        if (matched.length === 0) {
          issues.warn(
            W.selectorMatchesNothing,
            l2.loc,
            ['spec', 'ipAddressPoolSelectors', String(i)],
            `selector ${JSON.stringify(formatSelector(sel))} matches no IPAddressPool's labels: it announces nothing`,
          );
        }
      }
    }
    out.set(l2, [...chosen].sort());
  }
  for (const pool of pools) {
    if (pool.name === '') continue;
    const announced = [...out.values()].some((names) => names.includes(pool.name));
    if (!announced) {
      issues.warn(
        W.poolNotAdvertised,
        pool.loc,
        [],
        'no L2Advertisement announces this pool: Services get its IPs but no node answers ARP/NDP for them; add an L2Advertisement (one with an empty spec announces every pool)',
      );
    }
  }
  return out;
}

function buildConfig(pools: readonly PoolRecord[], l2s: readonly L2Record[], resolved: Map<L2Record, string[]>): Config {
  const l2Out: L2Advertisement[] = l2s
    .map((l2): L2Advertisement => {
      const spec = l2.input.spec ?? {};
      const ns = l2.loc.ref?.namespace;
      return {
        name: l2.name,
        ...(ns !== undefined ? { namespace: ns } : {}),
        ipAddressPools: [...(spec.ipAddressPools ?? [])],
        ipAddressPoolSelectors: (spec.ipAddressPoolSelectors ?? []).map(toSelector),
        pools: resolved.get(l2) ?? [],
        nodeSelectors: (spec.nodeSelectors ?? []).map(toSelector),
        interfaces: [...(spec.interfaces ?? [])],
        serviceSelectors: (spec.serviceSelectors ?? []).map(toSelector),
        preferredNodeSelectors: (spec.preferredNodeSelectors ?? []).map((p) => ({
          weight: p.weight,
          preference: toSelector(p.preference),
        })),
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const poolOut: Pool[] = pools
    .map((p): Pool => {
      const spec = p.input.spec;
      const cidrs = p.entries.flatMap((e) => e.parsed.cidrs);
      const sa = spec.serviceAllocation;
      const serviceAllocation: ServiceAllocation | undefined = sa
        ? {
            priority: sa.priority ?? 0,
            namespaces: [...(sa.namespaces ?? [])],
            namespaceSelectors: (sa.namespaceSelectors ?? []).map(toSelector),
            serviceSelectors: (sa.serviceSelectors ?? []).map(toSelector),
          }
        : undefined;
      const ns = p.loc.ref?.namespace;
      return {
        name: p.name,
        ...(ns !== undefined ? { namespace: ns } : {}),
        labels: { ...(p.input.metadata?.labels ?? {}) },
        addresses: [...spec.addresses],
        cidrs,
        cidrStrings: cidrs.map(formatCidr),
        autoAssign: spec.autoAssign ?? true,
        avoidBuggyIPs: spec.avoidBuggyIPs ?? false,
        ...(serviceAllocation ? { serviceAllocation } : {}),
        l2Advertisements: l2Out.filter((a) => a.pools.includes(p.name)).map((a) => a.name),
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return deepFreeze({ pools: poolOut, l2Advertisements: l2Out });
}
