import { BundleIssueSchema, BundleTestOutcomeSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { Code, ConnectError } from '@connectrpc/connect';
import type { KernelEndpoint } from './kernel-endpoint.js';

/** How to get a kernel to talk to, quoted when none answers. */
export const START_KERNEL_HINT =
  'start one with `capstan dev` (the whole stack) or `capstan safety-kernel`, or point at a running kernel ' +
  'with --kernel URL or SAFETY_KERNEL_URL';

/** No safety kernel answered at the URL (connection refused, unknown host, not a kernel). */
export class KernelUnreachableError extends Error {
  override readonly name = 'KernelUnreachableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The kernel answered with an error (bad bundle, approval not pending, unknown snapshot, ...). */
export class KernelRequestError extends Error {
  override readonly name = 'KernelRequestError';
  /** The Connect code, e.g. `invalid_argument`. */
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** `invalid_argument` for {@link Code.InvalidArgument}: the names the Connect protocol uses. */
export function connectCodeName(code: Code): string {
  return (Code[code] ?? `code ${code}`).replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c : `_${c}`)).toLowerCase();
}

/**
 * Turns a failed kernel call into an error a person can act on: which URL did not answer and how to start a
 * kernel, or the kernel's own message with every bundle issue (`file:line:col: path: message`) on its own line.
 */
export function toKernelError(endpoint: KernelEndpoint, what: string, error: unknown): Error {
  const where = `the safety kernel at ${endpoint.url}${endpoint.source === '--kernel' ? '' : ` (from ${endpoint.source})`}`;
  const err = ConnectError.from(error);
  if (err.code === Code.Unavailable && hasNetworkCause(err)) {
    return new KernelUnreachableError(`cannot reach ${where}: ${err.rawMessage}; ${START_KERNEL_HINT}`, {
      cause: error,
    });
  }
  if (err.code === Code.Unimplemented && /^HTTP \d+/.test(err.rawMessage)) {
    return new KernelUnreachableError(
      `${where} is not a Capstan safety kernel (${err.rawMessage} for ${what}); ${START_KERNEL_HINT}`,
      { cause: error },
    );
  }
  if (err.code === Code.DeadlineExceeded) {
    return new KernelRequestError(`${what}: ${where} did not answer in time (${err.rawMessage})`, 'deadline_exceeded', {
      cause: error,
    });
  }
  // Bundle issues and failed tests travel as details; the message usually repeats them, so show its first line
  // and then each detail once.
  const lines = [
    ...err
      .findDetails(BundleIssueSchema)
      .map((i) => `  ${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`),
    ...err.findDetails(BundleTestOutcomeSchema).map((t) => `  FAIL  ${t.name}: ${t.message}`),
  ];
  const message = lines.length > 0 ? (err.rawMessage.split('\n')[0] ?? '') : err.rawMessage;
  return new KernelRequestError(
    [`${what} failed (${connectCodeName(err.code)}): ${message}`, ...lines].join('\n'),
    connectCodeName(err.code),
    { cause: error },
  );
}

/** True when the Unavailable error comes from the network (nothing listening, unknown host), not the kernel. */
function hasNetworkCause(err: ConnectError): boolean {
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return (
    typeof code === 'string' ||
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|socket hang up/.test(err.rawMessage)
  );
}
