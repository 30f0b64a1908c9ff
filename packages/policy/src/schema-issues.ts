import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { BUNDLE_SCHEMA, type BundleDocument } from './bundle-schema.js';
import type { PolicyBundleIssue } from './errors.js';
import type { DocPath, YamlSource } from './yaml-source.js';

const validators = new Map<object, ValidateFunction>();

/** Compiles a schema once per process (ajv code generation costs milliseconds). */
function validatorFor(schema: object): ValidateFunction {
  let validator = validators.get(schema);
  if (!validator) {
    validator = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true }).compile(schema);
    validators.set(schema, validator);
  }
  return validator;
}

/** Turns ajv's `/rules/0/match` into `['rules', 0, 'match']`. */
function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      return /^\d+$/.test(seg) ? Number(seg) : seg;
    });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

/** One ajv error as a sentence saying what is wrong and what was expected, and where to point. */
function explainError(e: ErrorObject): { path: DocPath; message: string; atKey: boolean } {
  const path = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path, atKey: false, message: `missing required field "${String(p.missingProperty)}"` };
    case 'additionalProperties': {
      const props = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const extra = String(p.additionalProperty);
      return {
        path: [...path, extra],
        atKey: true,
        message: `unknown field "${extra}"; expected one of: ${props.join(', ')}`,
      };
    }
    case 'enum':
      return {
        path,
        atKey: false,
        message: `expected one of ${(p.allowedValues as unknown[]).join(', ')}; got ${describe(e.data)}`,
      };
    case 'type':
      return {
        path,
        atKey: false,
        message: `expected ${String(p.type).replace(',', ' or ')}; got ${describe(e.data)}`,
      };
    case 'pattern':
      return {
        path,
        atKey: false,
        message: `${describe(e.data)} does not match the expected pattern ${String(p.pattern)}`,
      };
    case 'minItems':
      return { path, atKey: false, message: `expected at least ${String(p.limit)} item(s); got an empty list` };
    case 'maxItems':
      return { path, atKey: false, message: `expected at most ${String(p.limit)} items` };
    case 'minLength':
      return { path, atKey: false, message: 'expected a non-empty string' };
    case 'maxLength':
      return { path, atKey: false, message: `expected at most ${String(p.limit)} characters` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return {
        path,
        atKey: false,
        message: `expected a number ${String(p.comparison)} ${String(p.limit)}; got ${describe(e.data)}`,
      };
    case 'minProperties':
      return { path, atKey: false, message: `expected at least ${String(p.limit)} field(s); got an empty map` };
    default:
      return { path, atKey: false, message: `${e.message ?? e.keyword}; got ${describe(e.data)}` };
  }
}

/**
 * Validates the parsed document against the bundle schema (or another document schema, e.g. a tests file's);
 * every violation becomes a positioned issue.
 */
export function schemaIssues<Doc = BundleDocument>(
  source: YamlSource,
  schema: object = BUNDLE_SCHEMA,
): {
  doc?: Doc;
  issues: PolicyBundleIssue[];
  /** JSON pointers (ajv `instancePath`) of the values that failed. */
  invalidPointers: string[];
} {
  const validate = validatorFor(schema);
  if (validate(source.data)) return { doc: source.data as Doc, issues: [], invalidPointers: [] };
  const errors = validate.errors ?? [];
  const issues = errors.map((e) => {
    const { path, message, atKey } = explainError(e);
    return source.issue(path, message, atKey);
  });
  return { issues, invalidPointers: errors.map((e) => e.instancePath) };
}
