import { PolicyBundleError } from '@capstan/policy';
import { invalidArgument, invalidBundleError } from './rpc-errors.js';
import type { LoadedSnapshot, SnapshotRegistry } from './snapshot-registry.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes bundle bytes carried in a request field. @throws INVALID_ARGUMENT naming `field` */
export function decodeBundleBytes(bytes: Uint8Array, field: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw invalidArgument(field, 'is not UTF-8 text; expected a policy bundle in YAML');
  }
}

/** Compiles a candidate bundle given in a request. @throws INVALID_ARGUMENT with BundleIssue details */
export function compileCandidate(
  registry: SnapshotRegistry,
  yaml: string,
  file: string,
  field: string,
): LoadedSnapshot {
  try {
    return registry.compile(yaml, file);
  } catch (err) {
    if (err instanceof PolicyBundleError) throw invalidBundleError(field, err.issues, err);
    throw err;
  }
}
