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
