import { type CelEnv, celEnv, isCelError, objectType, parse, plan } from '@bufbuild/cel';
import { createRegistry } from '@bufbuild/protobuf';
import {
  file_cordum_agent_v1_safety,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';

/** Outcome of one `when:` evaluation: matched, or why not. */
export type CelOutcome = { ok: true } | { ok: false; why: string };

/** A `when:` expression compiled once per bundle. */
export interface CelCondition {
  /** The expression as written. */
  readonly source: string;
  /** True when the expression evaluates to `true` (false, non-bool and runtime errors all mean no match). */
  test(request: PolicyCheckRequest): boolean;
  /** Like `test`, but says why it did not match. */
  explain(request: PolicyCheckRequest): CelOutcome;
}

/** A CEL syntax error with its position inside the expression (1-based). */
export interface CelCompileProblem {
  line: number;
  column: number;
  message: string;
}

let env: CelEnv | undefined;

/** The CEL environment: one variable `request`, typed as the cordum.agent.v1.PolicyCheckRequest message. */
function policyCelEnv(): CelEnv {
  env ??= celEnv({
    registry: createRegistry(file_cordum_agent_v1_safety),
    variables: { request: objectType(PolicyCheckRequestSchema) },
  });
  return env;
}

/** Compiles (parses and plans) a `when:` expression, or returns the syntax problem with its position. */
export function compileCelCondition(source: string): CelCondition | CelCompileProblem {
  let program: ReturnType<typeof plan>;
  try {
    program = plan(policyCelEnv(), parse(source));
  } catch (err) {
    const location = (err as { location?: { start?: { line?: number; column?: number } } }).location?.start;
    const raw = err instanceof Error ? err.message : String(err);
    // The parser prefixes "<input>:line:col: "; we report the position in the bundle file instead.
    const message = raw.replace(/^<input>:\d+:\d+: /, '');
    return { line: location?.line ?? 1, column: location?.column ?? 1, message: `CEL: ${message}` };
  }
  const run = (request: PolicyCheckRequest): CelOutcome => {
    const result = program({ request });
    if (isCelError(result)) return { ok: false, why: `when: error: ${result.message}` };
    if (result === true) return { ok: true };
    if (result === false) return { ok: false, why: `when: ${source} is false` };
    return { ok: false, why: `when: expected a bool result, got ${typeof result}` };
  };
  return {
    source,
    test: (request) => program({ request }) === true,
    explain: run,
  };
}

/** Type guard separating a compiled condition from a compile problem. */
export function isCelCompileProblem(value: CelCondition | CelCompileProblem): value is CelCompileProblem {
  return 'message' in value && !('test' in value);
}
