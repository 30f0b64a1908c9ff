/**
 * Named errors of @capstan/policy.
 */

/** Base class of every error thrown by @capstan/policy. */
export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** One problem found in a policy bundle, with where it is and what was expected. */
export interface PolicyBundleIssue {
  /** File name given to `loadBundle` (or `<bundle>`). */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** Path inside the document, e.g. `rules[2].match.topics[0]` (empty for the whole document). */
  path: string;
  /** What is wrong and what is expected. */
  message: string;
}

/** A bundle that cannot be loaded; `issues` lists every problem found, not only the first. */
export class PolicyBundleError extends PolicyError {
  override name = 'PolicyBundleError';
  /** Every problem found, in document order. */
  readonly issues: readonly PolicyBundleIssue[];
  constructor(issues: readonly PolicyBundleIssue[], options?: { cause?: unknown }) {
    super(
      `invalid policy bundle (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${issues
        .map((i) => `  ${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`)
        .join('\n')}`,
      options,
    );
    this.issues = issues;
  }
}

/** A call with arguments that cannot work (bad options, a velocity rule reached without a counter). */
export class PolicyArgumentError extends PolicyError {
  override name = 'PolicyArgumentError';
}
