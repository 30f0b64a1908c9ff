/**
 * The scenarios every language runs, in table order. The test titles are these strings exactly; the table
 * reporter prints one row per scenario and one column per language.
 */
export const SCENARIOS = {
  success: 'success: input via context_ptr, output via result_ptr',
  trace: 'trace_id preserved end to end',
  heartbeat: "heartbeats: listed in Capstan's worker registry",
  cancel: 'job cancelled mid-run',
  retryable: 'retryable failure retried',
  fatal: 'fatal failure dead-lettered',
  policy: 'denied by policy, never reaches the worker',
  signed: 'signed packets accepted (signatures required)',
  unsigned: 'unsigned or forged packets rejected (signatures required)',
  mixedPool: 'shares a pool with a Capstan TypeScript worker',
  kernelGrpc: 'policy author: Check / Evaluate / Explain / ListSnapshots over plain gRPC',
} as const;

/** Title of the golden-vector row. */
export const GOLDEN = 'golden vectors (test/golden) re-encoded byte for byte';

/** Every row of the result table, in order. */
export const TABLE_ROWS: readonly string[] = [...Object.values(SCENARIOS), GOLDEN];
