import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the suite lives and keeps its fetched SDKs, builds and logs. */
export interface InteropPaths {
  repoRoot: string;
  /** test/interop */
  interopDir: string;
  /** `.capstan/interop` (gitignored): the Python venv, Go binaries, generated code, logs. */
  cacheDir: string;
}

/** The suite's paths; `INTEROP_CACHE_DIR` (set by run.sh) overrides the cache directory. */
export function interopPaths(): InteropPaths {
  const interopDir = fileURLToPath(new URL('.', import.meta.url));
  const repoRoot = join(interopDir, '..', '..');
  return {
    repoRoot,
    interopDir,
    cacheDir: process.env['INTEROP_CACHE_DIR'] || join(repoRoot, '.capstan', 'interop'),
  };
}

/** The SDKs (and SDK-less programs) the suite drives, one column of the result table each. */
export type LanguageId = 'python' | 'go' | 'go-sdk';

/** How to run one language's worker and client programs, or why they cannot run on this machine. */
export interface SdkLanguage {
  id: LanguageId;
  /** Column header: language and exactly what was tested. */
  label: string;
  /** Why nothing of this language runs here; undefined when it does. */
  unavailable: string | undefined;
  /** The command line of the worker program with `args`. */
  worker(args: readonly string[]): { command: string; args: string[] };
  /** The command line of the client program with `args`. */
  client(args: readonly string[]): { command: string; args: string[] };
  /**
   * The worker `--mode` whose handler can report FAILED_RETRYABLE and FAILED_FATAL. The Python SDK's high-level
   * Agent turns every exception into plain FAILED, so those scenarios use its low-level `run_worker`.
   */
  failureMode: 'agent' | 'lowlevel';
}

const NOT_PREPARED = 'not prepared: run `npm run test:interop`, which fetches the SDKs and builds the programs first';

/** The languages, as prepared by test/interop/run.sh (it exports INTEROP_* variables describing what it set up). */
export function sdkLanguages(): Record<LanguageId, SdkLanguage> {
  const env = process.env;
  const { interopDir } = interopPaths();
  const python = env['INTEROP_PYTHON'];
  const goBin = env['INTEROP_GO_BIN'];
  return {
    python: {
      id: 'python',
      label: `python (${env['INTEROP_PYTHON_SDK'] || 'cap-sdk-python'})`,
      unavailable: python ? undefined : env['INTEROP_PYTHON_SKIP'] || NOT_PREPARED,
      worker: (args) => ({ command: python!, args: [join(interopDir, 'python', 'worker.py'), ...args] }),
      client: (args) => ({ command: python!, args: [join(interopDir, 'python', 'client.py'), ...args] }),
      failureMode: 'lowlevel',
    },
    go: {
      id: 'go',
      label: `go (${env['INTEROP_GO_RUNTIME'] || 'nats.go + google.golang.org/protobuf'}, no SDK)`,
      unavailable: goBin ? undefined : env['INTEROP_GO_SKIP'] || NOT_PREPARED,
      worker: (args) => ({ command: goBin!, args: ['worker', ...args] }),
      client: (args) => ({ command: goBin!, args: [...args] }),
      failureMode: 'agent',
    },
    'go-sdk': {
      id: 'go-sdk',
      label: 'go (github.com/cordum-io/cap/v2 SDK)',
      unavailable: env['INTEROP_GO_SDK_SKIP'] || NOT_PREPARED,
      worker: () => {
        throw new Error('the official Go SDK programs are not built (see INTEROP_GO_SDK_SKIP)');
      },
      client: () => {
        throw new Error('the official Go SDK programs are not built (see INTEROP_GO_SDK_SKIP)');
      },
      failureMode: 'agent',
    },
  };
}
