import { type ConfigSpec, isConfigField } from './config-field.js';

/** One field of a spec, flattened for documentation and tooling. */
export interface ConfigFieldDescription {
  /** Dotted path in the loaded config object, e.g. `s3.buckets`. */
  path: string;
  /** Environment variables, in priority order. */
  env: readonly string[];
  /** Key in the config file. */
  key: string;
  /** Default value (undefined = required or optional without default). */
  default: unknown;
  /** The expected form in words. */
  expected: string;
  /** What the value is for. */
  doc: string;
}

/** Lists every field of a spec in declaration order (used to generate and check the configuration docs). */
export function describeConfig(spec: ConfigSpec, prefix = ''): ConfigFieldDescription[] {
  return Object.entries(spec).flatMap(([name, entry]) => {
    const path = prefix ? `${prefix}.${name}` : name;
    if (!isConfigField(entry)) return describeConfig(entry as ConfigSpec, path);
    return [
      {
        path,
        env: entry.envNames,
        key: entry.key,
        default: entry.default,
        expected: entry.expected,
        doc: entry.doc,
      },
    ];
  });
}
