import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { formatFieldPath } from './field-path.js';

/**
 * Structural schemas of the objects l2vip reads, matching MetalLB's CRDs
 * (config/crd/bases/metallb.io_ipaddresspools.yaml and metallb.io_l2advertisements.yaml,
 * v0.16 and HEAD): same fields, types, required lists and bounds. Unknown fields are refused,
 * as `kubectl apply` (strict field validation) refuses them. `crdSchema` gives the
 * openAPIV3Schema of a kind, so CRD manifests can be generated from this one source.
 */

const StringMap = Type.Record(Type.String(), Type.String());

const LabelSelectorRequirement = Type.Object(
  {
    key: Type.String(),
    operator: Type.String(),
    values: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);

export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(StringMap),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement)),
  },
  { additionalProperties: false },
);

const ObjectMeta = Type.Object(
  {
    name: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String()),
    labels: Type.Optional(StringMap),
    annotations: Type.Optional(StringMap),
  },
  // The API server adds uid, resourceVersion, managedFields, ...: all allowed.
  { additionalProperties: true },
);

const ServiceAllocationSchema = Type.Object(
  {
    priority: Type.Optional(Type.Integer()),
    namespaces: Type.Optional(Type.Array(Type.String())),
    namespaceSelectors: Type.Optional(Type.Array(LabelSelectorSchema)),
    serviceSelectors: Type.Optional(Type.Array(LabelSelectorSchema)),
  },
  { additionalProperties: false },
);

const IPAddressPoolSpec = Type.Object(
  {
    addresses: Type.Array(Type.String()),
    autoAssign: Type.Optional(Type.Boolean({ default: true })),
    avoidBuggyIPs: Type.Optional(Type.Boolean({ default: false })),
    serviceAllocation: Type.Optional(ServiceAllocationSchema),
  },
  { additionalProperties: false },
);

const IPAddressPoolStatus = Type.Object(
  {
    assignedIPv4: Type.Optional(Type.Integer()),
    assignedIPv6: Type.Optional(Type.Integer()),
    availableIPv4: Type.Optional(Type.Integer()),
    availableIPv6: Type.Optional(Type.Integer()),
  },
  { additionalProperties: true },
);

export const IPAddressPoolSchema = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.Literal('IPAddressPool'),
    metadata: Type.Optional(ObjectMeta),
    spec: IPAddressPoolSpec,
    status: Type.Optional(IPAddressPoolStatus),
  },
  { additionalProperties: false },
);

const PreferredNodeSelectorSchema = Type.Object(
  {
    weight: Type.Integer({ minimum: 1, maximum: 100 }),
    preference: LabelSelectorSchema,
  },
  { additionalProperties: false },
);

const L2AdvertisementSpec = Type.Object(
  {
    ipAddressPools: Type.Optional(Type.Array(Type.String())),
    ipAddressPoolSelectors: Type.Optional(Type.Array(LabelSelectorSchema)),
    nodeSelectors: Type.Optional(Type.Array(LabelSelectorSchema)),
    interfaces: Type.Optional(Type.Array(Type.String())),
    serviceSelectors: Type.Optional(Type.Array(LabelSelectorSchema)),
    preferredNodeSelectors: Type.Optional(Type.Array(PreferredNodeSelectorSchema)),
  },
  { additionalProperties: false },
);

export const L2AdvertisementSchema = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.Literal('L2Advertisement'),
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(L2AdvertisementSpec),
    status: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: false },
);

export type LabelSelectorInput = Static<typeof LabelSelectorSchema>;
export type IPAddressPoolInput = Static<typeof IPAddressPoolSchema>;
export type L2AdvertisementInput = Static<typeof L2AdvertisementSchema>;

/** The openAPIV3Schema of `kind`'s spec, as a plain JSON value (for CRD manifests). */
export function crdSpecSchema(kind: 'IPAddressPool' | 'L2Advertisement'): unknown {
  const schema: TSchema = kind === 'IPAddressPool' ? IPAddressPoolSpec : L2AdvertisementSpec;
  return JSON.parse(JSON.stringify(schema)) as unknown;
}

export interface MetallbValidators {
  readonly IPAddressPool: ValidateFunction<IPAddressPoolInput>;
  readonly L2Advertisement: ValidateFunction<L2AdvertisementInput>;
}

let validators: MetallbValidators | undefined;

/** Compiled on first use, not at import: `standalone` imports this module for schemaProblems() alone. */
export function metallbValidators(): MetallbValidators {
  if (validators === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, useDefaults: false });
    validators = { IPAddressPool: ajv.compile<IPAddressPoolInput>(IPAddressPoolSchema), L2Advertisement: ajv.compile<L2AdvertisementInput>(L2AdvertisementSchema) };
  }
  return validators;
}

/** A schema failure turned into a field path and a sentence. */
export interface SchemaProblem {
  /** Field path segments (keys, and indices as decimal strings). */
  readonly segments: readonly string[];
  readonly message: string;
  readonly unknownField: boolean;
}

/** Known field names by JSON-pointer parent, to suggest a spelling for unknown fields. */
function knownFields(schema: unknown, pointer: readonly string[]): string[] {
  let node: unknown = schema;
  for (const seg of pointer) {
    if (typeof node !== 'object' || node === null) return [];
    const obj = node as { properties?: Record<string, unknown>; items?: unknown; patternProperties?: Record<string, unknown> };
    if (/^\d+$/.test(seg) && obj.items) node = obj.items;
    else if (obj.properties && seg in obj.properties) node = obj.properties[seg];
    else if (obj.patternProperties) node = Object.values(obj.patternProperties)[0];
    else return [];
  }
  const props = (node as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] as number;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j] as number;
      d[j] = Math.min((d[j] as number) + 1, (d[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length] as number;
}

/** The closest of `candidates` to `word` (case-insensitive, at most 3 edits), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(data: unknown, segments: readonly string[]): unknown {
  let node = data;
  for (const seg of segments) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[seg];
  }
  return node;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
  array: 'a list',
  object: 'a map',
};

/** Turns ajv's errors into one problem per field, with advice. */
export function schemaProblems(schema: unknown, data: unknown, errors: readonly ErrorObject[]): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  // A misspelt required field shows up twice (missing + unknown): keep only the "did you mean".
  const suggestedFields = new Set<string>();
  const required: SchemaProblem[] = [];
  const push = (p: SchemaProblem): void => {
    const key = `${JSON.stringify(p.segments)}\u0000${p.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(p);
  };
  for (const e of errors) {
    const segments = decodePointer(e.instancePath);
    switch (e.keyword) {
      case 'required': {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        required.push({ segments: [...segments, missing], message: `required field "${missing}" is missing`, unknownField: false });
        break;
      }
      case 'additionalProperties': {
        const field = (e.params as { additionalProperty: string }).additionalProperty;
        const suggestion = closest(field, knownFields(schema, segments));
        if (suggestion) suggestedFields.add(JSON.stringify([...segments, suggestion]));
        const where = segments.length ? formatFieldPath(segments) : 'the object';
        push({
          segments: [...segments, field],
          message: `unknown field "${field}" in ${where}${suggestion ? `: did you mean "${suggestion}"?` : ''}`,
          unknownField: true,
        });
        break;
      }
      case 'type': {
        const want = (e.params as { type: string }).type;
        const got = valueAt(data, segments);
        const hint =
          want === 'string' && (typeof got === 'boolean' || typeof got === 'number')
            ? ' (quote it: YAML reads yes/no/on/off/true/false and numbers as non-strings)'
            : want === 'boolean' && typeof got === 'string'
              ? ' (write true or false without quotes)'
              : '';
        push({ segments, message: `must be ${TYPE_WORDS[want] ?? want}, not ${describe(got)}${hint}`, unknownField: false });
        break;
      }
      case 'minimum':
      case 'maximum': {
        const limit = (e.params as { limit: number }).limit;
        const bound = e.keyword === 'minimum' ? 'at least' : 'at most';
        push({ segments, message: `must be ${bound} ${limit}, not ${JSON.stringify(valueAt(data, segments))}`, unknownField: false });
        break;
      }
      default:
        push({ segments, message: e.message ?? 'is invalid', unknownField: false });
    }
  }
  for (const r of required) if (!suggestedFields.has(JSON.stringify(r.segments))) push(r);
  return out;
}
