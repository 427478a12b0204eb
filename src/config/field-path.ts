/**
 * Field paths as users read them: `spec.addresses[2]`,
 * `spec.nodeSelectors[0].matchLabels["kubernetes.io/hostname"]`, from a list of segments
 * (object keys and array indices as decimal strings).
 */
export function formatFieldPath(segments: readonly string[]): string {
  let out = '';
  for (const seg of segments) {
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The segments of a path formatFieldPath wrote: `spec.addresses[2]` -> ['spec', 'addresses', '2']. */
export function parseFieldPath(path: string): string[] {
  const out: string[] = [];
  for (const m of path.matchAll(/\[("(?:[^"\\]|\\.)*")\]|\[(\d+)\]|([^.[\]]+)/g)) {
    out.push(m[1] !== undefined ? (JSON.parse(m[1]) as string) : (m[2] ?? m[3] ?? ''));
  }
  return out;
}
