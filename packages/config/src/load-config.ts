import { isAbsolute, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from './config-error.js';
import { type ConfigField, type ConfigSpec, type InferConfig, isConfigField } from './config-field.js';
import { CONFIG_FILE_ENV } from './defaults.js';
import { ConfigFileError, readConfigFile } from './read-config-file.js';

/** Where {@link loadConfig} reads values from. */
export interface LoadConfigOptions {
  /**
   * Environment variables.
   * @default process.env
   */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Config file: a path to a YAML/JSON file, an already-parsed object, or `null` for none.
   * @default the path in `CAPSTAN_CONFIG` (from `env`), if set
   */
  file?: string | Record<string, unknown> | null;
  /**
   * Directory a relative file path is resolved against.
   * @default process.cwd()
   */
  cwd?: string;
}

interface PickedValue {
  source: 'env' | 'file' | 'default' | 'missing';
  variable: string;
  value: unknown;
}

/**
 * Loads and validates a service's configuration. Precedence per field: environment variable, then config file,
 * then the field's default. Every field is checked before anything is thrown, and a {@link ConfigError} lists all
 * problems, each naming the variable (or file key) and the expected form.
 */
export function loadConfig<const S extends ConfigSpec>(spec: S, options: LoadConfigOptions = {}): InferConfig<S> {
  const env = options.env ?? process.env;
  const issues: ConfigIssue[] = [];
  const file = resolveFile(options, env, issues);
  const result = loadGroup(spec, '', env, file, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return result as InferConfig<S>;
}

interface ResolvedFile {
  values: Record<string, unknown>;
  label: string;
}

function resolveFile(
  options: LoadConfigOptions,
  env: Readonly<Record<string, string | undefined>>,
  issues: ConfigIssue[],
): ResolvedFile {
  const fromEnv = nonEmpty(env[CONFIG_FILE_ENV]);
  const file = options.file === undefined ? fromEnv : options.file;
  if (file === undefined || file === null) return { values: {}, label: 'the config file' };
  if (typeof file !== 'string') return { values: file, label: 'the config object' };
  const path = isAbsolute(file) ? file : resolve(options.cwd ?? process.cwd(), file);
  try {
    return { values: readConfigFile(path), label: file };
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    const expected = 'the path of a readable YAML or JSON file whose top level is a mapping';
    issues.push({
      field: '(file)',
      source: 'file',
      variable: CONFIG_FILE_ENV,
      expected,
      message: `${CONFIG_FILE_ENV}=${JSON.stringify(file)} cannot be used: ${error.message}; expected ${expected}`,
    });
    return { values: {}, label: file };
  }
}

function loadGroup(
  spec: ConfigSpec,
  prefix: string,
  env: Readonly<Record<string, string | undefined>>,
  file: ResolvedFile,
  issues: ConfigIssue[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(spec)) {
    const path = prefix ? `${prefix}.${name}` : name;
    out[name] = isConfigField(entry)
      ? loadField(entry, path, env, file, issues)
      : loadGroup(entry as ConfigSpec, path, env, file, issues);
  }
  return out;
}

function loadField(
  field: ConfigField<unknown>,
  path: string,
  env: Readonly<Record<string, string | undefined>>,
  file: ResolvedFile,
  issues: ConfigIssue[],
): unknown {
  const picked = pickValue(field, env, file);
  const parsed = field.schema.safeParse(picked.value);
  if (parsed.success) return parsed.data;
  const reason = parsed.error.issues[0]?.message ?? 'invalid value';
  issues.push({
    field: path,
    source: picked.source,
    variable: picked.variable,
    expected: field.expected,
    message: describeProblem(field, picked, reason, file.label),
  });
  return undefined;
}

function pickValue(
  field: ConfigField<unknown>,
  env: Readonly<Record<string, string | undefined>>,
  file: ResolvedFile,
): PickedValue {
  for (const name of field.envNames) {
    const raw = nonEmpty(env[name]);
    if (raw !== undefined) return { source: 'env', variable: name, value: field.fromEnv(raw) };
  }
  const fromFile = getPath(file.values, field.key);
  if (fromFile !== undefined) return { source: 'file', variable: field.key, value: fromFile };
  if (field.default !== undefined) return { source: 'default', variable: field.envNames[0]!, value: field.default };
  return { source: 'missing', variable: field.envNames[0]!, value: undefined };
}

function describeProblem(field: ConfigField<unknown>, picked: PickedValue, reason: string, fileLabel: string): string {
  const shown = field.secret ? '(hidden)' : maskValue(picked.value);
  switch (picked.source) {
    case 'env':
      return `${picked.variable}=${shown} is invalid (${reason}); expected ${field.expected}`;
    case 'file':
      return `${picked.variable} = ${shown} in ${fileLabel} is invalid (${reason}); expected ${field.expected}`;
    case 'default':
      // A bad default is a bug in the spec, but report it the same way so it is never silently swallowed.
      return `default for ${picked.variable} (${shown}) is invalid (${reason}); expected ${field.expected}`;
    case 'missing':
      return `${field.envNames.join(' or ')} is not set (nor ${field.key} in the config file); expected ${field.expected}`;
  }
}

/** Renders a value for an error message with any URL password replaced by `***`. */
function maskValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.replace(/(\/\/[^/@\s:"]*):[^/@\s"]*@/g, '$1:***@');
}

function getPath(values: Record<string, unknown>, key: string): unknown {
  let current: unknown = values;
  for (const part of key.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current ?? undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
