import { MAX_CEL_EXPRESSION_LENGTH, MAX_RULES, MAX_VELOCITY_WINDOW_SECONDS } from './limits.js';

/**
 * JSON schema of a policy bundle document (after YAML parsing). Structure only; cross-field rules (unique ids,
 * topic glob syntax, CEL compilation, constraints only on allow decisions) are checked in `load-bundle.ts`.
 */

const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const nonEmptyStringList = { ...stringList, minItems: 1 } as const;
const positiveInt = { type: 'integer', minimum: 0 } as const;

/** Decisions a rule may take, as written in YAML. */
export const RULE_DECISIONS = ['allow', 'deny', 'require_human', 'throttle', 'allow_with_constraints'] as const;

/** Decisions the bundle default may take. */
export const DEFAULT_DECISIONS = ['allow', 'deny'] as const;

/** Velocity key parts: fixed names, or `label:<name>` for a label's value. */
export const VELOCITY_KEY_PATTERN = '^(tenant|topic|actor|capability|label:.+)$';

const matchSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tenants: nonEmptyStringList,
    topics: nonEmptyStringList,
    capabilities: nonEmptyStringList,
    risk_tags: nonEmptyStringList,
    requires: nonEmptyStringList,
    actor_ids: nonEmptyStringList,
    actor_types: { type: 'array', minItems: 1, items: { enum: ['human', 'service'] } },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    label_allowlist: { type: 'object', additionalProperties: stringList },
  },
} as const;

const constraintsSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    budgets: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_runtime_ms: positiveInt,
        max_retries: positiveInt,
        max_artifact_bytes: positiveInt,
        max_concurrent_jobs: positiveInt,
      },
    },
    sandbox: {
      type: 'object',
      additionalProperties: false,
      properties: {
        isolated: { type: 'boolean' },
        network_allowlist: stringList,
        fs_read_only: stringList,
        fs_read_write: stringList,
      },
    },
    toolchain: {
      type: 'object',
      additionalProperties: false,
      properties: { allowed_tools: stringList, allowed_commands: stringList },
    },
    diff: {
      type: 'object',
      additionalProperties: false,
      properties: { max_files: positiveInt, max_lines: positiveInt, deny_path_globs: stringList },
    },
    redaction_level: { type: 'string', minLength: 1 },
  },
} as const;

const remediationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: { type: 'string', minLength: 1 },
    title: { type: 'string' },
    summary: { type: 'string' },
    replacement_topic: { type: 'string' },
    replacement_capability: { type: 'string' },
    add_labels: { type: 'object', additionalProperties: { type: 'string' } },
    remove_labels: stringList,
  },
} as const;

const ruleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'decision'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' },
    description: { type: 'string' },
    match: matchSchema,
    when: { type: 'string', minLength: 1, maxLength: MAX_CEL_EXPRESSION_LENGTH },
    velocity: {
      type: 'object',
      additionalProperties: false,
      required: ['key', 'limit', 'window_seconds'],
      properties: {
        key: { type: 'array', minItems: 1, items: { type: 'string', pattern: VELOCITY_KEY_PATTERN } },
        limit: { type: 'integer', minimum: 1 },
        window_seconds: { type: 'number', exclusiveMinimum: 0, maximum: MAX_VELOCITY_WINDOW_SECONDS },
      },
    },
    decision: { enum: RULE_DECISIONS },
    reason: { type: 'string' },
    constraints: constraintsSchema,
    remediations: { type: 'array', items: remediationSchema },
  },
} as const;

/** JSON schema of one `tests:` case (embedded in a bundle or in a separate tests file). */
export const TEST_CASE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'request', 'expect'],
  properties: {
    name: { type: 'string', minLength: 1 },
    request: { type: 'object' },
    expect: {
      type: 'object',
      additionalProperties: false,
      required: ['decision'],
      properties: { decision: { enum: RULE_DECISIONS }, rule_id: { type: 'string', minLength: 1 } },
    },
  },
} as const;

/** The bundle document schema, handed to ajv once per process. */
export const BUNDLE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: {
    version: { type: ['string', 'number'] },
    description: { type: 'string' },
    default_decision: { enum: DEFAULT_DECISIONS },
    default_reason: { type: 'string' },
    rules: { type: 'array', maxItems: MAX_RULES, items: ruleSchema },
    tests: { type: 'array', items: TEST_CASE_SCHEMA },
  },
} as const;

/** JSON schema of a tests file kept beside a bundle: a document with only a `tests:` list. */
export const TESTS_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['tests'],
  properties: { tests: { type: 'array', items: TEST_CASE_SCHEMA } },
} as const;

/** The bundle document as the schema admits it (snake_case, as written in YAML). */
export interface BundleDocument {
  version?: string | number;
  description?: string;
  default_decision?: (typeof DEFAULT_DECISIONS)[number];
  default_reason?: string;
  rules: RuleDocument[];
  tests?: TestDocument[];
}

/** One rule as written in YAML. */
export interface RuleDocument {
  id: string;
  description?: string;
  match?: {
    tenants?: string[];
    topics?: string[];
    capabilities?: string[];
    risk_tags?: string[];
    requires?: string[];
    actor_ids?: string[];
    actor_types?: ('human' | 'service')[];
    labels?: Record<string, string>;
    label_allowlist?: Record<string, string[]>;
  };
  when?: string;
  velocity?: { key: string[]; limit: number; window_seconds: number };
  decision: (typeof RULE_DECISIONS)[number];
  reason?: string;
  constraints?: ConstraintsDocument;
  remediations?: RemediationDocument[];
}

/** Constraints as written in YAML. */
export interface ConstraintsDocument {
  budgets?: {
    max_runtime_ms?: number;
    max_retries?: number;
    max_artifact_bytes?: number;
    max_concurrent_jobs?: number;
  };
  sandbox?: { isolated?: boolean; network_allowlist?: string[]; fs_read_only?: string[]; fs_read_write?: string[] };
  toolchain?: { allowed_tools?: string[]; allowed_commands?: string[] };
  diff?: { max_files?: number; max_lines?: number; deny_path_globs?: string[] };
  redaction_level?: string;
}

/** A remediation as written in YAML. */
export interface RemediationDocument {
  id: string;
  title?: string;
  summary?: string;
  replacement_topic?: string;
  replacement_capability?: string;
  add_labels?: Record<string, string>;
  remove_labels?: string[];
}

/** An embedded test case as written in YAML. */
export interface TestDocument {
  name: string;
  request: Record<string, unknown>;
  expect: { decision: (typeof RULE_DECISIONS)[number]; rule_id?: string };
}
