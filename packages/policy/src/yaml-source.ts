import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type Scalar } from 'yaml';
import type { PolicyBundleIssue } from './errors.js';

/** A path inside the bundle document: map keys and list indexes. */
export type DocPath = readonly (string | number)[];

/** A parsed YAML bundle with the means to turn document paths back into file positions. */
export interface YamlSource {
  /** The document as plain data (undefined when the YAML itself has errors). */
  readonly data: unknown;
  /** YAML syntax errors, already as issues. */
  readonly syntaxIssues: PolicyBundleIssue[];
  /** An issue located at `path` (at the key rather than the value when `atKey`). */
  issue(path: DocPath, message: string, atKey?: boolean): PolicyBundleIssue;
  /** The YAML scalar at `path`, for expressions whose inner positions matter (CEL). */
  scalar(path: DocPath): Scalar | undefined;
  /** 1-based line and column of a character offset in the text. */
  position(offset: number): { line: number; column: number };
  /** The bundle text. */
  readonly text: string;
  /** File name used in issues. */
  readonly file: string;
}

/** Renders a path as `rules[2].match.topics[0]`. */
export function formatDocPath(path: DocPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

/** Parses bundle YAML, keeping node ranges so schema and CEL errors can say file:line:column. */
export function parseYamlSource(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  // uniqueKeys rejects duplicate keys; the default maxAliasCount guards against alias bombs.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const position = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const syntaxIssues: PolicyBundleIssue[] = doc.errors.map((e) => {
    const p = position(e.pos[0]);
    return { file, line: p.line, column: p.column, path: '', message: `YAML: ${e.message.split('\n')[0]}` };
  });

  /** Walks to the deepest node on `path`, remembering the key node of the last map step. */
  const walk = (path: DocPath): { node: Node | undefined; key: Node | undefined } => {
    let node: Node | undefined = doc.contents ?? undefined;
    let key: Node | undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : p.key) === String(seg));
        if (!pair) return { node, key: undefined };
        key = isScalar(pair.key) ? pair.key : undefined;
        node = (pair.value ?? undefined) as Node | undefined;
        if (node === undefined) return { node: key, key };
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) return { node, key: undefined };
        node = item;
        key = undefined;
      } else {
        return { node, key: undefined };
      }
    }
    return { node, key };
  };

  return {
    text,
    file,
    data: syntaxIssues.length > 0 ? undefined : doc.toJS({ maxAliasCount: 100 }),
    syntaxIssues,
    position,
    issue(path, message, atKey = false) {
      const { node, key } = walk(path);
      const target = atKey && key ? key : node;
      const p = position(target?.range?.[0] ?? 0);
      return { file, line: p.line, column: p.column, path: formatDocPath(path), message };
    },
    scalar(path) {
      const { node } = walk(path);
      return isScalar(node) ? node : undefined;
    },
  };
}
