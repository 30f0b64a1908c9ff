import type { z } from 'zod';

const FIELD = Symbol.for('capstan.config.field');

/** How one configuration value is declared. */
export interface ConfigFieldOptions<T> {
  /**
   * Environment variable(s) that set the value. With several, the first one that is set wins, so a Capstan name
   * can fall back to a conventional one (`CAPSTAN_NATS_URL`, then `NATS_URL`). Empty variables count as unset.
   */
  env: string | readonly string[];
  /** Dotted path of the value in the config file, e.g. `nats.url` for `{ nats: { url } }`. */
  key: string;
  /**
   * Value used when neither the environment nor the file sets it.
   * @default undefined (the field is required unless its schema accepts `undefined`)
   */
  default?: T;
  /** Schema the value must satisfy, whichever source it came from. */
  schema: z.ZodType<T>;
  /** The expected form in words, quoted in error messages: "a NATS URL such as nats://127.0.0.1:4222". */
  expected: string;
  /** What the value is for (shown in generated docs). */
  doc: string;
  /**
   * Turns the raw environment string into the schema's input (file values are already typed).
   * @default the string unchanged
   */
  fromEnv?: (raw: string) => unknown;
  /**
   * Hide the value in error messages (passwords, tokens). URL passwords are always masked.
   * @default false
   */
  secret?: boolean;
}

/** A declared configuration value; build one with {@link field}. */
export interface ConfigField<T> {
  readonly [FIELD]: true;
  /** Environment variables in priority order. */
  readonly envNames: readonly string[];
  readonly key: string;
  readonly default: T | undefined;
  readonly schema: z.ZodType<T>;
  readonly expected: string;
  readonly doc: string;
  readonly fromEnv: (raw: string) => unknown;
  readonly secret: boolean;
}

/** A service's configuration: named fields, optionally grouped into nested objects. */
export interface ConfigSpec {
  readonly [name: string]: ConfigField<unknown> | ConfigSpec;
}

/** The typed configuration object {@link loadConfig} returns for a spec. */
export type InferConfig<S extends ConfigSpec> = {
  -readonly [K in keyof S]: S[K] extends ConfigField<infer T> ? T : S[K] extends ConfigSpec ? InferConfig<S[K]> : never;
};

/** Thrown when a field declaration itself is wrong (a programming error, not bad user input). */
export class ConfigSpecError extends Error {
  override readonly name = 'ConfigSpecError';
}

const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
const KEY_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Declares one configuration value. */
export function field<T>(options: ConfigFieldOptions<T>): ConfigField<T> {
  const envNames = typeof options.env === 'string' ? [options.env] : [...options.env];
  if (envNames.length === 0) throw new ConfigSpecError(`Config field "${options.key}" needs at least one env name`);
  for (const name of envNames) {
    if (!ENV_NAME.test(name)) {
      throw new ConfigSpecError(`Config field "${options.key}": env name "${name}" must be UPPER_SNAKE_CASE`);
    }
  }
  if (!KEY_PATH.test(options.key)) {
    throw new ConfigSpecError(`Config field key "${options.key}" must be a dotted path such as "nats.url"`);
  }
  return Object.freeze({
    [FIELD]: true as const,
    envNames: Object.freeze(envNames),
    key: options.key,
    default: options.default,
    schema: options.schema,
    expected: options.expected,
    doc: options.doc,
    fromEnv: options.fromEnv ?? ((raw: string) => raw),
    secret: options.secret ?? false,
  });
}

/** Returns true when `value` was built by {@link field} (as opposed to a nested group). */
export function isConfigField(value: unknown): value is ConfigField<unknown> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[FIELD] === true;
}

/**
 * Declares a service's configuration. The spec is returned unchanged; the helper exists so TypeScript infers
 * the exact field types that {@link InferConfig} turns into the loaded config's type.
 *
 * @example
 * const gatewayConfig = defineConfig({ nats: { url: natsUrl }, port: gatewayPort, logLevel });
 * const config = loadConfig(gatewayConfig); // { nats: { url: string }, port: number, logLevel: LogLevel }
 */
export function defineConfig<const S extends ConfigSpec>(spec: S): S {
  return spec;
}
