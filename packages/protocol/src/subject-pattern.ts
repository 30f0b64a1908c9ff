/**
 * Subject patterns in NATS style (policy topic globs, routing-file topic keys): `*` matches exactly one subject
 * token, `>` (last token only) one or more trailing tokens. Compiled once to a token list, so matching builds no
 * regexes per call.
 */

/** A compiled topic glob. */
export interface SubjectPattern {
  /** The glob as written in the bundle. */
  readonly source: string;
  /** True when `topic` matches the glob; `tokens` is `topic.split('.')`, split once per request by the caller. */
  test(topic: string, tokens?: readonly string[]): boolean;
}

/**
 * Why `source` is not a valid topic glob, or undefined when it is.
 * Tokens must be non-empty; `>` may only be the last token; `*`/`>` must be whole tokens.
 */
export function subjectPatternProblem(source: string): string | undefined {
  if (source === '') return 'empty topic glob; expected dot-separated tokens such as "job.echo" or "job.db.*"';
  const tokens = source.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token === '') return `empty token in topic glob "${source}"; expected tokens separated by single dots`;
    if (token === '>' && i !== tokens.length - 1) return `">" must be the last token of topic glob "${source}"`;
    if (token.length > 1 && (token.includes('*') || token.includes('>'))) {
      return `wildcard inside token "${token}" of topic glob "${source}"; "*" and ">" must be whole tokens`;
    }
  }
  return undefined;
}

/** Compiles a glob checked with `subjectPatternProblem` first. */
export function compileSubjectPattern(source: string): SubjectPattern {
  const tokens = source.split('.');
  const wildcard = tokens.some((t) => t === '*' || t === '>');
  if (!wildcard) return { source, test: (topic) => topic === source };
  const tail = tokens[tokens.length - 1] === '>';
  const fixed = tail ? tokens.slice(0, -1) : tokens;
  return {
    source,
    test(topic, tokens) {
      const parts = tokens ?? topic.split('.');
      if (tail ? parts.length <= fixed.length : parts.length !== fixed.length) return false;
      for (let i = 0; i < fixed.length; i++) {
        const want = fixed[i] as string;
        const got = parts[i] as string;
        if (got === '') return false;
        if (want !== '*' && want !== got) return false;
      }
      return true;
    },
  };
}
