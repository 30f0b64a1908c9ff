import { createHash } from 'node:crypto';
import { fromJson, type JsonObject } from '@bufbuild/protobuf';
import { DecisionType, PolicyConstraintsSchema, PolicyRemediationSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { subjectPatternProblem } from '@capstan/protocol';
import { Scalar } from 'yaml';
import type { BundleDocument, RuleDocument } from './bundle-schema.js';
import { compileCelCondition, isCelCompileProblem } from './cel-condition.js';
import { compileTestCases } from './compile-test-cases.js';
import { DECISION_BY_NAME } from './decision-names.js';
import { PolicyArgumentError, PolicyBundleError, type PolicyBundleIssue } from './errors.js';
import { DEFAULT_MAX_BUNDLE_BYTES, DEFAULT_RULE_ID } from './limits.js';
import { compileMatch } from './match-conditions.js';
import type { CompiledRule, CompiledVelocity, PolicyBundle } from './policy-bundle.js';
import type { RequestView } from './request-view.js';
import { schemaIssues } from './schema-issues.js';
import { type DocPath, parseYamlSource, type YamlSource } from './yaml-source.js';

/** Options of `loadBundle`. */
export interface LoadBundleOptions {
  /**
   * File name used in error positions.
   * @default "<bundle>"
   */
  file?: string;
  /**
   * Largest accepted bundle in UTF-8 bytes; bigger bundles are rejected before parsing.
   * @default 1048576 (1 MiB)
   */
  maxBytes?: number;
}

interface ResolvedLoadBundleOptions {
  file: string;
  maxBytes: number;
}

/** Fills defaults and validates `LoadBundleOptions`. */
export function resolveLoadBundleOptions(options: LoadBundleOptions = {}): ResolvedLoadBundleOptions {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new PolicyArgumentError(`loadBundle: maxBytes must be a positive integer; got ${String(maxBytes)}`);
  }
  return { file: options.file ?? '<bundle>', maxBytes };
}

/** Maps a position inside a `when:` expression to the bundle file, following how the YAML scalar was written. */
function celPosition(source: YamlSource, node: Scalar | undefined, line: number, column: number) {
  const start = node?.range?.[0] ?? 0;
  const at = source.position(start);
  if (node?.type === Scalar.BLOCK_LITERAL || node?.type === Scalar.BLOCK_FOLDED) {
    // Content starts on the line after the `|`/`>` header, indented by the block's indentation.
    const fileLine = at.line + line;
    const text = source.text.split('\n')[fileLine - 1] ?? '';
    const indent = text.length - text.trimStart().length;
    return { line: fileLine, column: indent + column };
  }
  const quoted = node?.type === Scalar.QUOTE_DOUBLE || node?.type === Scalar.QUOTE_SINGLE ? 1 : 0;
  return line === 1 ? { line: at.line, column: at.column + quoted + column - 1 } : { line: at.line + line - 1, column };
}

function compileVelocity(rule: RuleDocument): CompiledVelocity | undefined {
  const v = rule.velocity;
  if (!v) return undefined;
  const readers = v.key.map((part): ((view: RequestView) => string) => {
    switch (part) {
      case 'tenant':
        return (view) => view.tenant;
      case 'topic':
        return (view) => view.topic;
      case 'actor':
        return (view) => view.actorId;
      case 'capability':
        return (view) => view.capability;
      default: {
        const label = part.slice('label:'.length);
        return (view) => view.label(label) ?? '';
      }
    }
  });
  // Values are URI-encoded so "|" or "=" inside a tenant or label cannot forge another key.
  return {
    parts: v.key,
    limit: v.limit,
    windowMs: Math.round(v.window_seconds * 1000),
    key: (view) => {
      let key = encodeURIComponent(rule.id);
      for (let i = 0; i < readers.length; i++) {
        key += `|${v.key[i]}=${encodeURIComponent((readers[i] as (view: RequestView) => string)(view))}`;
      }
      return key;
    },
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Checks what the schema cannot and compiles one rule; problems go to `issues`. */
function compileRule(
  rule: RuleDocument,
  index: number,
  source: YamlSource,
  issues: PolicyBundleIssue[],
): CompiledRule | undefined {
  const at = (path: DocPath, message: string, atKey = false) =>
    issues.push(source.issue(['rules', index, ...path], message, atKey));
  const before = issues.length;

  rule.match?.topics?.forEach((glob, i) => {
    const problem = subjectPatternProblem(glob);
    if (problem) at(['match', 'topics', i], problem);
  });

  let when: CompiledRule['when'];
  if (rule.when !== undefined) {
    const compiled = compileCelCondition(rule.when);
    if (isCelCompileProblem(compiled)) {
      const node = source.scalar(['rules', index, 'when']);
      const pos = celPosition(source, node, compiled.line, compiled.column);
      issues.push({
        file: source.file,
        line: pos.line,
        column: pos.column,
        path: `rules[${index}].when`,
        message: compiled.message,
      });
    } else {
      when = compiled;
    }
  }

  const hasConstraints = rule.constraints !== undefined;
  if (hasConstraints && rule.decision !== 'allow' && rule.decision !== 'allow_with_constraints') {
    at(
      ['constraints'],
      `constraints only apply to allow or allow_with_constraints; this rule's decision is ${rule.decision}`,
      true,
    );
  }
  if (rule.decision === 'allow_with_constraints' && !hasConstraints) {
    at(
      ['decision'],
      'decision allow_with_constraints needs a constraints: block; expected constraints or decision allow',
    );
  }

  let constraints: CompiledRule['constraints'];
  if (rule.constraints) {
    try {
      constraints = fromJson(PolicyConstraintsSchema, rule.constraints as JsonObject);
    } catch (err) {
      at(['constraints'], `invalid constraints: ${messageOf(err)}`);
    }
  }
  const remediations: CompiledRule['remediations'][number][] = [];
  rule.remediations?.forEach((r, i) => {
    try {
      remediations.push(fromJson(PolicyRemediationSchema, r as unknown as JsonObject));
    } catch (err) {
      at(['remediations', i], `invalid remediation: ${messageOf(err)}`);
    }
  });

  if (issues.length > before) return undefined;
  return {
    id: rule.id,
    index,
    decision: constraints ? DecisionType.ALLOW_WITH_CONSTRAINTS : DECISION_BY_NAME[rule.decision],
    reason: rule.reason,
    match: compileMatch(rule.match),
    when,
    velocity: compileVelocity(rule),
    constraints,
    remediations,
  };
}

/**
 * Loads a policy bundle from YAML: size check, YAML parse, JSON-schema validation, then compilation (topic globs,
 * CEL `when:` programs, constraint and remediation messages, embedded tests) — once, so evaluation does none of it.
 * @throws {PolicyBundleError} with every issue found (file, line, column, path, what was expected).
 */
export function loadBundle(text: string, options?: LoadBundleOptions): PolicyBundle {
  const { file, maxBytes } = resolveLoadBundleOptions(options);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw new PolicyBundleError([
      { file, line: 1, column: 1, path: '', message: `bundle is ${bytes} bytes; expected at most ${maxBytes} bytes` },
    ]);
  }
  const source = parseYamlSource(text, file);
  if (source.syntaxIssues.length > 0) throw new PolicyBundleError(source.syntaxIssues);
  const { doc, issues, invalidPointers } = schemaIssues(source);
  if (doc) return compileDocument(doc, source, text, file, [], []);
  // Report every problem at once: rules and tests that passed the schema are still compiled (CEL, globs, ...).
  const data = source.data as Partial<BundleDocument> | null;
  const invalid = (prefix: string) => invalidPointers.some((p) => p === prefix || p.startsWith(`${prefix}/`));
  if (data && typeof data === 'object' && !invalidPointers.includes('')) {
    const validRules = Array.isArray(data.rules) && !invalidPointers.includes('/rules');
    const validTests = data.tests === undefined || (Array.isArray(data.tests) && !invalidPointers.includes('/tests'));
    const partial: BundleDocument = {
      rules: validRules ? (data.rules ?? []).map((r, i) => (invalid(`/rules/${i}`) ? undefined : r)) : [],
      tests: validTests ? (data.tests ?? []).map((t, i) => (invalid(`/tests/${i}`) ? undefined : t)) : [],
    } as BundleDocument;
    // Ids of rules that failed the schema still exist as far as tests' expect.rule_id is concerned.
    const brokenIds = (validRules ? (data.rules ?? []) : [])
      .map((r) => (r as { id?: unknown } | null)?.id)
      .filter((id): id is string => typeof id === 'string');
    try {
      compileDocument(partial, source, text, file, issues, brokenIds);
    } catch (err) {
      if (!(err instanceof PolicyBundleError)) throw err;
      return throwSorted(err.issues as PolicyBundleIssue[]);
    }
  }
  return throwSorted(issues);
}

function throwSorted(issues: PolicyBundleIssue[]): never {
  throw new PolicyBundleError([...issues].sort((a, b) => a.line - b.line || a.column - b.column));
}

/**
 * Compiles a schema-valid document. Entries of `rules`/`tests` may be undefined when they failed the schema (only
 * when `earlier` already holds their issues); they are skipped, but still count for positions and ids.
 */
function compileDocument(
  doc: BundleDocument,
  source: YamlSource,
  text: string,
  file: string,
  earlier: PolicyBundleIssue[],
  brokenIds: string[],
): PolicyBundle {
  const issues: PolicyBundleIssue[] = [...earlier];
  const known = new Set(brokenIds);
  const seen = new Map<string, number>();
  const rules: CompiledRule[] = [];
  doc.rules.forEach((rule: RuleDocument | undefined, index) => {
    if (!rule) return;
    if (rule.id === DEFAULT_RULE_ID) {
      issues.push(
        source.issue(['rules', index, 'id'], `rule id "${DEFAULT_RULE_ID}" is reserved for the default decision`),
      );
    }
    const first = seen.get(rule.id);
    if (first !== undefined) {
      issues.push(
        source.issue(['rules', index, 'id'], `duplicate rule id "${rule.id}"; first used by rules[${first}]`),
      );
    } else {
      seen.set(rule.id, index);
    }
    const compiled = compileRule(rule, index, source, issues);
    if (compiled) rules.push(compiled);
  });

  const tests = compileTestCases(doc.tests ?? [], source, new Set([...seen.keys(), ...known]), issues);
  if (issues.length > 0) throwSorted(issues);

  const version = doc.version === undefined ? undefined : String(doc.version);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const defaultDecision = doc.default_decision === 'allow' ? DecisionType.ALLOW : DecisionType.DENY;
  return {
    snapshotId: version === undefined ? hash : `${hash}@${version}`,
    version,
    file,
    defaultDecision,
    defaultReason: doc.default_reason ?? `no rule matched; default decision ${doc.default_decision ?? 'deny'}`,
    rules,
    tests,
  };
}
