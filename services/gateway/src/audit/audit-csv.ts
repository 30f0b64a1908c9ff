import { stringify } from 'csv-stringify';
import type { AuditRecord } from './audit-log.js';

/** Columns of the CSV export (the seed's, then Capstan's additions). */
export const AUDIT_CSV_COLUMNS = [
  'id',
  'actor_type',
  'actor_id',
  'action',
  'resource_type',
  'resource_id',
  'ip_address',
  'created_at',
  'outcome',
  'status_code',
  'trace_id',
  'user_agent',
  'details',
] as const;

/**
 * Spreadsheets run cells starting with = + - @ (or tab/CR) as formulas; audit fields carry attacker-chosen text
 * (user agents, ids), so such cells are prefixed with a quote (OWASP "CSV injection").
 */
export function neutralizeFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** A CSV stringifier (a Node Transform) that takes {@link AuditRecord}s and emits RFC 4180 CSV with a header row. */
export function createAuditCsvStream() {
  return stringify({
    header: true,
    columns: [...AUDIT_CSV_COLUMNS],
    cast: {
      string: neutralizeFormula,
      date: (value) => value.toISOString(),
      object: (value) => neutralizeFormula(JSON.stringify(value)),
    },
  });
}

/** Projects a record onto the CSV columns. */
export function auditCsvRow(record: AuditRecord): Record<(typeof AUDIT_CSV_COLUMNS)[number], unknown> {
  return {
    id: record.id,
    actor_type: record.actor_type,
    actor_id: record.actor_id,
    action: record.action,
    resource_type: record.resource_type,
    resource_id: record.resource_id,
    ip_address: record.ip_address ?? '',
    created_at: record.created_at,
    outcome: record.outcome,
    status_code: record.status_code ?? '',
    trace_id: record.trace_id,
    user_agent: record.user_agent,
    details: record.details ?? '',
  };
}
