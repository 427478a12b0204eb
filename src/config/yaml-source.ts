import { isNode, LineCounter, parseAllDocuments, type Document, type Tags } from 'yaml';

/** A line and column, both 1-based. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** One YAML document (or one object given directly), with a way back to its text. */
export interface SourceDocument {
  readonly file?: string;
  readonly index: number;
  readonly value: unknown;
  /** Where the value at `path` starts (or its closest existing parent); undefined without text. */
  readonly locate: (path: readonly string[]) => Position | undefined;
}

export interface YamlProblem {
  readonly file?: string;
  readonly document: number;
  readonly position?: Position;
  readonly message: string;
}

// kubectl reads YAML with go-yaml v2 (YAML 1.1): yes/no/on/off are booleans, 010 is octal.
// Go does not read 1:20 as sexagesimal nor dates as timestamps, so those tags are dropped.
function kubernetesTags(tags: Tags): Tags {
  return tags.filter((t) => {
    if (typeof t === 'string') return t !== 'timestamp' && t !== 'intTime' && t !== 'floatTime';
    return (t as { format?: string }).format !== 'TIME' && t.tag !== 'tag:yaml.org,2002:timestamp';
  });
}

function locator(doc: Document, lines: LineCounter): (path: readonly string[]) => Position | undefined {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lines.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  };
}

/**
 * Splits `text` into documents as kubectl does ("---" separated, YAML 1.1 scalars, duplicate
 * keys refused). Empty documents are dropped; a document with a syntax error becomes a problem.
 * `version: '1.2'` reads scalars as YAML 1.2 does (yes/no/on/off stay strings): for l2vip's own
 * files, which kubectl never reads.
 */
export function readYamlDocuments(
  text: string,
  file?: string,
  options: { readonly version?: '1.1' | '1.2' } = {},
): { documents: SourceDocument[]; problems: YamlProblem[] } {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { version: options.version ?? '1.1', customTags: kubernetesTags, lineCounter: lines, prettyErrors: true });
  const docs = Array.isArray(parsed) ? parsed : [];
  const documents: SourceDocument[] = [];
  const problems: YamlProblem[] = [];
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0];
        problems.push({
          ...(file !== undefined ? { file } : {}),
          document: index,
          ...(pos ? { position: { line: pos.line, column: pos.col } } : {}),
          message: (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, ''),
        });
      }
      return;
    }
    if (doc.contents === null) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      problems.push({ ...(file !== undefined ? { file } : {}), document: index, message: (err as Error).message });
      return;
    }
    if (value === null || value === undefined) return;
    documents.push({ ...(file !== undefined ? { file } : {}), index, value, locate: locator(doc, lines) });
  });
  return { documents, problems };
}
