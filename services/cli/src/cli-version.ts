import { readFileSync } from 'node:fs';

/**
 * The CLI's version, from its package.json. Read at run time because package.json sits outside `src/` (and
 * `dist/`); both are one directory below it, so the same relative URL works from source and from the build.
 */
export function cliVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
