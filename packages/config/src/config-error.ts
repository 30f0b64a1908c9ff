/** Where a rejected configuration value came from. */
export type ConfigIssueSource = 'env' | 'file' | 'default' | 'missing';

/** One problem with the configuration. */
export interface ConfigIssue {
  /** Dotted path of the field in the service's config object, e.g. `s3.buckets`. */
  field: string;
  /** Where the rejected value came from (`missing` when nothing set a required value). */
  source: ConfigIssueSource;
  /**
   * What the operator has to fix: the environment variable (`CAPSTAN_NATS_URL`), the file key
   * (`nats.url in ./capstan.yaml`) or `CAPSTAN_CONFIG` when the file itself cannot be used.
   */
  variable: string;
  /** The expected form in words. */
  expected: string;
  /** One human-readable line naming the variable, the (masked) value and the expected form. */
  message: string;
}

/** Thrown by `loadConfig` with every problem found, so an operator can fix them all in one go. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** All problems, in declaration order. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(`Invalid configuration (${count}):\n${issues.map((issue) => `  - ${issue.message}`).join('\n')}`, options);
    this.issues = issues;
  }
}
