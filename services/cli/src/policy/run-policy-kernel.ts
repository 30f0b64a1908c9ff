import { userInfo } from 'node:os';
import { explain, PolicyBundleError } from '@capstan/policy';
import { resolveKernelEndpoint } from '../kernel/kernel-endpoint.js';
import { callKernel, createPolicyAdminClient } from '../kernel/policy-admin-client.js';
import { UsageError } from '../usage-error.js';
import { loadBundleFile, readPolicyFile } from './bundle-file.js';
import {
  describeSnapshot,
  formatIssue,
  formatResponseDetails,
  formatSimulation,
  formatSnapshots,
  formatTestReport,
  plural,
} from './format-policy.js';
import { parsePolicyRequestArg, parsePolicyRequestLines } from './parse-policy-request.js';

/** Options every command that talks to the safety kernel takes. */
export interface KernelCommandOptions {
  /** `--kernel URL`; else SAFETY_KERNEL_URL, the running `capstan dev`, or the default port. */
  kernel?: string;
}

/** Options of `capstan policy explain`. */
export interface PolicyExplainOptions extends KernelCommandOptions {
  /** The request: JSON, `@file` or `-`. */
  request: string;
  /** Explain against this bundle file locally instead of asking the kernel. */
  bundle?: string;
}

/** Options of `capstan policy simulate`. */
export interface PolicySimulateOptions extends KernelCommandOptions {
  /** The candidate bundle file. */
  bundle: string;
  /** One request to evaluate against the candidate. */
  request?: string;
  /** A JSON-lines file of requests to replay. */
  requests?: string;
  /** Replay the last N requests the kernel recorded. */
  replay?: string;
}

/** Options of `capstan policy upload`. */
export interface PolicyUploadOptions extends KernelCommandOptions {
  /** Activate the stored snapshot at once. */
  activate?: boolean;
  /** Refuse to activate when an embedded test fails. */
  requireTestsPass?: boolean;
  /** Recorded as who did it; default: the OS user. */
  actor?: string;
}

/** Options of `capstan policy activate` and `rollback`. */
export interface PolicyActivateOptions extends KernelCommandOptions {
  actor?: string;
  reason?: string;
}

/** The OS user name, recorded as the actor of admin changes unless `--actor` says otherwise. */
export function defaultActor(): string {
  try {
    return userInfo().username || 'cli';
  } catch {
    return 'cli';
  }
}

function kernelClient(options: KernelCommandOptions) {
  const endpoint = resolveKernelEndpoint({ flag: options.kernel });
  return { endpoint, client: createPolicyAdminClient(endpoint) };
}

/**
 * `capstan policy explain --request JSON [--bundle FILE]`: the decision and the trace of every rule. With
 * `--bundle` the file is evaluated here (velocity as if this were the only request); otherwise the kernel's
 * active snapshot answers (PolicyAdmin.Explain, velocity read from its Redis without counting).
 */
export async function runPolicyExplain(options: PolicyExplainOptions): Promise<number> {
  const request = parsePolicyRequestArg(options.request);
  if (options.bundle !== undefined) {
    let loaded: ReturnType<typeof loadBundleFile>;
    try {
      loaded = loadBundleFile(options.bundle);
    } catch (error) {
      if (!(error instanceof PolicyBundleError)) throw error;
      for (const issue of error.issues) process.stdout.write(`${formatIssue(issue)}\n`);
      process.stderr.write(`${plural(error.issues.length, 'issue')} found; fix them before explaining\n`);
      return 1;
    }
    const { text, response } = await explain(loaded.bundle, request);
    process.stdout.write([text, ...formatResponseDetails(response)].join('\n').concat('\n'));
    return 0;
  }
  const { endpoint, client } = kernelClient(options);
  const res = await callKernel(endpoint, 'explain', () => client.explain({ request }));
  const details = res.response ? formatResponseDetails(res.response) : [];
  process.stdout.write([res.text, ...details].join('\n').concat('\n'));
  return 0;
}

/** Parses `--replay N`. */
function parseReplay(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) {
    throw new UsageError(
      `--replay ${JSON.stringify(raw)} is invalid: expected a number of recorded requests from 1 to 100000`,
    );
  }
  return n;
}

/**
 * `capstan policy simulate --bundle FILE [--request JSON] [--requests FILE] [--replay N]`: asks the kernel how the
 * candidate bundle would decide, and which decisions of the given or recorded requests would change, rule by rule.
 */
export async function runPolicySimulate(options: PolicySimulateOptions): Promise<number> {
  const replayLast = parseReplay(options.replay);
  const request = options.request === undefined ? undefined : parsePolicyRequestArg(options.request);
  const requests = options.requests === undefined ? [] : parsePolicyRequestLines(options.requests);
  if (!request && requests.length === 0 && replayLast === 0) {
    throw new UsageError(
      'nothing to simulate: pass --request JSON, --requests FILE (JSON lines) and/or --replay N (recorded requests)',
    );
  }
  const bundleYaml = readPolicyFile(options.bundle);
  const { endpoint, client } = kernelClient(options);
  const res = await callKernel(endpoint, 'simulate', () =>
    client.simulate({ bundleYaml, file: options.bundle, ...(request ? { request } : {}), requests, replayLast }),
  );
  process.stdout.write(`${formatSimulation(res)}\n`);
  return 0;
}

/** `capstan policy upload FILE [--activate]`: stores the bundle as a snapshot (and activates it). */
export async function runPolicyUpload(file: string, options: PolicyUploadOptions): Promise<number> {
  const bundleYaml = readPolicyFile(file);
  const { endpoint, client } = kernelClient(options);
  const res = await callKernel(endpoint, 'upload', () =>
    client.uploadBundle({
      bundleYaml,
      file,
      activate: options.activate === true,
      actor: options.actor ?? defaultActor(),
      requireTestsPass: options.requireTestsPass === true,
    }),
  );
  const failed = res.tests.filter((t) => !t.passed);
  if (failed.length > 0) {
    process.stderr.write(
      `${formatTestReport(
        failed.map((t) => ({
          file,
          result: {
            name: t.name,
            passed: false,
            expected: { decision: t.expectedDecision, ruleId: t.expectedRuleId },
            actual: { decision: t.actualDecision, ruleId: t.actualRuleId },
            message: t.message,
            explanation: t.explanation,
          },
        })),
      )}\n`,
    );
  }
  const snapshot = res.snapshot;
  if (!snapshot) throw new Error('the kernel answered UploadBundle without a snapshot');
  process.stdout.write(
    `stored snapshot ${describeSnapshot(snapshot)}${snapshot.active ? '; active' : `; activate it with: capstan policy activate ${snapshot.snapshotId}`}\n`,
  );
  return 0;
}

/** `capstan policy activate ID`: switches every kernel replica (and scheduler) to a stored snapshot. */
export async function runPolicyActivate(snapshotId: string, options: PolicyActivateOptions): Promise<number> {
  const { endpoint, client } = kernelClient(options);
  const res = await callKernel(endpoint, 'activate', () =>
    client.activateSnapshot({ snapshotId, actor: options.actor ?? defaultActor(), reason: options.reason ?? '' }),
  );
  const now = res.snapshot ? describeSnapshot(res.snapshot) : snapshotId;
  process.stdout.write(`active snapshot: ${now} (was ${res.previousSnapshotId || 'none'})\n`);
  return 0;
}

/** `capstan policy rollback`: re-activates the snapshot that was active before the current one. */
export async function runPolicyRollback(options: PolicyActivateOptions): Promise<number> {
  const { endpoint, client } = kernelClient(options);
  const res = await callKernel(endpoint, 'rollback', () =>
    client.rollback({ actor: options.actor ?? defaultActor(), reason: options.reason ?? '' }),
  );
  const now = res.snapshot ? describeSnapshot(res.snapshot) : '(unknown)';
  process.stdout.write(`rolled back to snapshot ${now} (was ${res.previousSnapshotId || 'none'})\n`);
  return 0;
}

/** `capstan policy list`: the kept snapshots, newest first, the active one marked `*`. */
export async function runPolicyList(options: KernelCommandOptions): Promise<number> {
  const { endpoint, client } = kernelClient(options);
  const res = await callKernel(endpoint, 'list snapshots', () => client.listBundles({}));
  process.stdout.write(`${formatSnapshots(res.snapshots)}\n`);
  return 0;
}
