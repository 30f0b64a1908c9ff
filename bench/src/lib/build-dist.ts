/**
 * Prepares processes that run like a deployment: compiled JavaScript on plain `node`, no TypeScript loader.
 * `tsc -b` brings the `dist/` of every package they import up to date (incremental: quick when nothing changed),
 * and esbuild transpiles the bench's own process files (and the libs they import) to
 * bench/node_modules/.cache/capstan-bench-procs/ (ignored by git and biome; imports resolve from bench/node_modules).
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const benchSrc = fileURLToPath(new URL('../', import.meta.url));
/** Where the transpiled bench processes go. */
export const PROCS_DIST_URL = new URL('../../node_modules/.cache/capstan-bench-procs/', import.meta.url);
/** The deployables the bench processes run, with everything they reference. */
const PROJECTS = [
  'services/gateway',
  'services/safety-kernel',
  'packages/scheduler',
  'packages/worker',
  'packages/safety-client',
];

/** Builds the packages and the bench process files; throws with the compiler's output if that fails. */
export async function buildDist(): Promise<void> {
  try {
    await promisify(execFile)(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', ...PROJECTS], {
      cwd: root,
    });
  } catch (err) {
    const out = err as { stdout?: string; stderr?: string };
    throw new Error(
      `tsc -b ${PROJECTS.join(' ')} failed (footprint runs the built packages):\n${out.stdout ?? ''}${out.stderr ?? ''}`,
      { cause: err },
    );
  }
  const files = async (dir: string) =>
    (await readdir(`${benchSrc}${dir}`)).filter((f) => f.endsWith('.ts')).map((f) => `${benchSrc}${dir}/${f}`);
  await build({
    entryPoints: [...(await files('procs')), ...(await files('lib'))],
    outdir: fileURLToPath(PROCS_DIST_URL),
    outbase: benchSrc,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    bundle: false,
    logLevel: 'error',
  });
}
