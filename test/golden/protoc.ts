import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file lives in test/golden/). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The proto import root passed to protoc as `-I`. */
export const PROTO_ROOT = join(REPO_ROOT, 'proto');

/** What to run when protoc is missing; printed in every failure so the fix is one copy-paste away. */
export const PROTOC_INSTALL_HINT = 'apt-get install -y protobuf-compiler';

/** Thrown when the `protoc` binary cannot be started. The golden tests fail (never skip) with it. */
export class ProtocMissingError extends Error {
  override name = 'ProtocMissingError';
  constructor(cause: unknown) {
    super(
      `protoc is not installed or not on PATH; the golden wire tests need the independent C++ protobuf implementation. Install it with: ${PROTOC_INSTALL_HINT}`,
      { cause },
    );
  }
}

/** Thrown when protoc ran but refused its input (bad text format, unknown type, bytes that do not parse). */
export class ProtocError extends Error {
  override name = 'ProtocError';
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`protoc ${args.join(' ')} exited with ${exitCode}: ${stderr.trim() || '(no stderr)'}`);
  }
}

/**
 * Every .proto under proto/, relative to it, in byte order. protoc is given all of them so that any message of the
 * contract can be named in `--encode`/`--decode`.
 */
export function protoFiles(): string[] {
  return readdirSync(PROTO_ROOT, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.proto'))
    .map((file) => file.split('\\').join('/'))
    .sort();
}

function runProtoc(args: readonly string[], input: Uint8Array | string): Buffer {
  const result = spawnSync('protoc', [...args, '-I', PROTO_ROOT, ...protoFiles()], {
    input,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new ProtocMissingError(result.error);
  if (result.status !== 0) throw new ProtocError(args, result.status, result.stderr.toString('utf8'));
  return result.stdout;
}

/** protoc's version line (e.g. `libprotoc 3.21.12`); throws {@link ProtocMissingError} if protoc is not installed. */
export function protocVersion(): string {
  const result = spawnSync('protoc', ['--version'], { encoding: 'utf8' });
  if (result.error) throw new ProtocMissingError(result.error);
  if (result.status !== 0) throw new ProtocError(['--version'], result.status, result.stderr);
  return result.stdout.trim();
}

/**
 * Encodes text-format `text` as message `typeName` with protoc's deterministic output (fields by number, map
 * entries sorted by key bytes) — the same bytes `regenerate.sh` commits.
 */
export function protocEncode(typeName: string, text: string): Uint8Array {
  return new Uint8Array(runProtoc([`--encode=${typeName}`, '--deterministic_output'], text));
}

/** Decodes binary `bytes` as message `typeName` into protoc's canonical text format. */
export function protocDecode(typeName: string, bytes: Uint8Array): string {
  return runProtoc([`--decode=${typeName}`], bytes).toString('utf8');
}
