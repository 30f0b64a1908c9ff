/**
 * NATS message headers Capstan adds to dispatches and reads back from its own workers. CAP's JobResult has no field
 * for the lease, so the fence travels in headers (CAP SDK workers ignore them; see docs/scheduler.md on fencing).
 */
export const CapstanHeaders = {
  /** `<attempt>.<epoch>` of the dispatch; workers echo it on progress and results. */
  lease: 'Capstan-Lease',
} as const;

/** The lease of one dispatch. */
export interface Lease {
  attempt: number;
  epoch: number;
}

/** Wire form of a lease header value. */
export function formatLease(lease: Lease): string {
  return `${lease.attempt}.${lease.epoch}`;
}

/** Parses a lease header value; undefined when absent or malformed. */
export function parseLease(value: string | undefined): Lease | undefined {
  if (!value) return undefined;
  const m = /^(\d{1,9})\.(\d{1,9})$/.exec(value.trim());
  return m ? { attempt: Number(m[1]), epoch: Number(m[2]) } : undefined;
}
