/**
 * Values of `budget.deadline_ms` above this are absolute times (ms since the epoch; 1e12 ms is September 2001);
 * smaller positive values are durations from receipt. CAP documents the field as absolute, but some senders put a
 * relative budget in it, and no real absolute deadline is that small.
 */
export const ABSOLUTE_DEADLINE_THRESHOLD_MS = 1e12;

/**
 * The absolute deadline (ms since the epoch) of a job received at `receivedAtMs`, or undefined when it has none
 * (`deadline_ms` zero or negative).
 */
export function jobDeadline(deadlineMs: bigint | number, receivedAtMs: number): number | undefined {
  const value = Number(deadlineMs);
  if (!Number.isFinite(value) || value <= 0) return undefined;
  return value > ABSOLUTE_DEADLINE_THRESHOLD_MS ? value : receivedAtMs + value;
}
