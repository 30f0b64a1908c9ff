import { existsSync, readFileSync } from 'node:fs';
import { type BundleTestCase, loadBundle, loadBundleTests, type PolicyBundle } from '@capstan/policy';
import { UsageError } from '../usage-error.js';

/**
 * The tests file `capstan policy test` reads beside a bundle: `<name>.tests.yaml` for `<name>.yaml` or
 * `<name>.yml` (`<file>.tests.yaml` for any other name).
 */
export function testsFileFor(bundleFile: string): string {
  return `${bundleFile.replace(/\.ya?ml$/i, '')}.tests.yaml`;
}

/** Reads a policy file; a missing or unreadable file is a {@link UsageError} naming it. */
export function readPolicyFile(file: string, what = 'policy bundle'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

/** A bundle file loaded with its tests: the embedded ones and those of its tests file. */
export interface LoadedBundleFile {
  /** The bundle as written in the file (its `tests` are the embedded ones). */
  bundle: PolicyBundle;
  /** The file's text (what `upload` sends). */
  text: string;
  /** The tests file read, if any. */
  testsFile?: string;
  /** Cases from the tests file. */
  fileTests: BundleTestCase[];
}

/**
 * Loads `file` (named in positions as given) and its tests: those of `testsFile` when given (it must exist),
 * else of the conventional `<name>.tests.yaml` beside it when that exists.
 * @throws {PolicyBundleError} with every issue of the bundle, or of the tests file once the bundle is valid.
 */
export function loadBundleFile(file: string, testsFile?: string): LoadedBundleFile {
  const text = readPolicyFile(file);
  const bundle = loadBundle(text, { file });
  const tests = testsFile ?? testsFileFor(file);
  if (testsFile === undefined && !existsSync(tests)) return { bundle, text, fileTests: [] };
  const fileTests = loadBundleTests(readPolicyFile(tests, 'tests file'), bundle, { file: tests });
  return { bundle, text, testsFile: tests, fileTests };
}
