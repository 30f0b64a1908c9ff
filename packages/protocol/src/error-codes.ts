/**
 * CAP numeric error codes. On the wire they travel as strings (`JobResult.error_code`, `SystemAlert.code`).
 * 1000–9999 are application-specific.
 */
export const CapErrorCode = {
  VERSION_MISMATCH: 100,
  MALFORMED_PACKET: 101,
  UNKNOWN_PAYLOAD: 102,
  SIGNATURE_INVALID: 103,
  SIGNATURE_MISSING: 104,
  JOB_TIMEOUT: 200,
  RESOURCE_EXHAUSTED: 201,
  PERMISSION_DENIED: 202,
  INVALID_INPUT: 203,
  NOT_FOUND: 204,
  DUPLICATE: 205,
  WORKER_UNAVAILABLE: 206,
  SAFETY_DENIED: 300,
  POLICY_VIOLATION: 301,
  RISK_TAG_BLOCKED: 302,
  PUBLISH_FAILED: 400,
  SUBSCRIBE_FAILED: 401,
  CONNECTION_LOST: 402,
} as const;

/** Name of a CAP error code. */
export type CapErrorName = keyof typeof CapErrorCode;
/** Numeric value of a CAP error code. */
export type CapErrorNumber = (typeof CapErrorCode)[CapErrorName];

const byNumber = new Map<number, CapErrorName>(
  Object.entries(CapErrorCode).map(([name, code]) => [code, name as CapErrorName]),
);

/** The wire form of a code: its decimal string. */
export function capErrorString(name: CapErrorName): string {
  return String(CapErrorCode[name]);
}

/** Name for a wire code string, `APPLICATION` for 1000–9999, undefined when unknown. */
export function capErrorName(code: string): CapErrorName | 'APPLICATION' | undefined {
  const n = Number(code);
  if (!Number.isInteger(n)) return undefined;
  if (n >= 1000 && n <= 9999) return 'APPLICATION';
  return byNumber.get(n);
}
