import { z } from 'zod';
import type { AuthContext } from '../auth/auth-context.js';
import { GatewayError } from '../errors/gateway-error.js';
import { cursorSchema, decodeCursor, pageOf, perPageSchema } from '../http/pagination.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { whenPresent } from '../http/schema-messages.js';
import { auditCsvRow, createAuditCsvStream } from './audit-csv.js';
import type { AuditFilter, AuditRecord } from './audit-log.js';

/** Deepest offset the `page` parameter may reach; beyond it, page with `cursor`. */
export const MAX_AUDIT_OFFSET = 10_000;
/** Most rows one CSV export returns. */
export const MAX_EXPORT_ROWS = 100_000;
const EXPORT_BATCH = 1000;

const ISO_EXPECTED = 'not an ISO 8601 timestamp such as 2024-01-15T10:30:00Z';

const filterFields = {
  actor_type: z.string().max(32).optional(),
  actor_id: z.string().max(256).optional(),
  action: z.string().max(128).optional(),
  resource_type: z.string().max(64).optional(),
  resource_id: z.string().max(256).optional(),
  outcome: z.enum(['success', 'failure']).optional(),
  from: z.iso.datetime({ offset: true, error: whenPresent(ISO_EXPECTED) }).optional(),
  to: z.iso.datetime({ offset: true, error: whenPresent(ISO_EXPECTED) }).optional(),
};

const auditEntrySchema = z
  .object({
    id: z.string(),
    organization_id: z.string().nullable(),
    actor_type: z.string(),
    actor_id: z.string(),
    action: z.string(),
    resource_type: z.string(),
    resource_id: z.string(),
    outcome: z.string(),
    status_code: z.number().int().nullable(),
    ip_address: z.string().nullable(),
    user_agent: z.string(),
    trace_id: z.string(),
    details: z.unknown(),
    created_at: z.string(),
  })
  .meta({ id: 'AuditLog' });

const auditIdSchema = z.string().regex(/^log_[0-9a-f]{32}$/, 'not an audit log id (log_ followed by 32 hex digits)');

function toEntry(record: AuditRecord): z.infer<typeof auditEntrySchema> {
  return { ...record, details: record.details ?? null, created_at: record.created_at.toISOString() };
}

function toFilter(query: { [K in keyof typeof filterFields]?: string }): AuditFilter {
  const filter: AuditFilter = {};
  if (query.actor_type) filter.actorType = query.actor_type;
  if (query.actor_id) filter.actorId = query.actor_id;
  if (query.action) filter.action = query.action;
  if (query.resource_type) filter.resourceType = query.resource_type;
  if (query.resource_id) filter.resourceId = query.resource_id;
  if (query.outcome) filter.outcome = query.outcome;
  if (query.from) filter.from = new Date(query.from);
  if (query.to) filter.to = new Date(query.to);
  return filter;
}

/** `GET /v1/audit-logs` (filters; cursor or page pagination), `/v1/audit-logs/export` (CSV), `/:id`. Admins only. */
export const auditRoutes: GatewayRouteModule = async (app) => {
  const { audit } = app.gateway;
  const access = { role: 'admin', scope: 'audit:read' } as const;

  app.route({
    method: 'GET',
    url: '/v1/audit-logs',
    config: { access },
    schema: {
      tags: ['audit'],
      summary: 'Audit events of the organization, newest first',
      description: `Pass \`cursor\` (preferred) or the CACP \`page\` (offset pagination up to ${MAX_AUDIT_OFFSET} entries, with totals).`,
      querystring: z
        .strictObject({
          ...filterFields,
          per_page: perPageSchema,
          cursor: cursorSchema.optional(),
          page: z.coerce.number().int().min(1).optional(),
        })
        .refine((q) => !(q.cursor && q.page), { message: 'pass either cursor or page, not both', path: ['page'] })
        .refine((q) => q.page === undefined || (q.page - 1) * q.per_page < MAX_AUDIT_OFFSET, {
          message: `page too deep: offset pagination stops at ${MAX_AUDIT_OFFSET} entries; use cursor`,
          path: ['page'],
        }),
      response: {
        200: z.object({
          logs: z.array(auditEntrySchema),
          pagination: z.object({
            per_page: z.number().int(),
            next_cursor: z.string().nullable(),
            has_more: z.boolean(),
            page: z.number().int().optional(),
            total: z.number().int().optional(),
            total_pages: z.number().int().optional(),
          }),
        }),
      },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const q = request.query;
      const filter = toFilter(q);
      if (q.page !== undefined) {
        const { records, total } = await audit.listPage(auth.organizationId, filter, {
          limit: q.per_page,
          offset: (q.page - 1) * q.per_page,
        });
        const hasMore = q.page * q.per_page < total;
        const last = records.at(-1);
        return {
          logs: records.map(toEntry),
          pagination: {
            per_page: q.per_page,
            next_cursor: hasMore && last ? Buffer.from(JSON.stringify({ id: last.id })).toString('base64url') : null,
            has_more: hasMore,
            page: q.page,
            total,
            total_pages: Math.ceil(total / q.per_page),
          },
        };
      }
      const before = q.cursor ? decodeCursor(q.cursor, z.object({ id: auditIdSchema })).id : undefined;
      const rows = await audit.list(auth.organizationId, filter, {
        limit: q.per_page + 1,
        ...(before ? { before } : {}),
      });
      const { items, pagination } = pageOf(rows, q.per_page, (last) => ({ id: last.id }));
      return { logs: items.map(toEntry), pagination };
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/audit-logs/export',
    config: { access },
    schema: {
      tags: ['audit'],
      summary: 'Export audit events as CSV (text/csv attachment), newest first',
      querystring: z.strictObject({
        ...filterFields,
        limit: z.coerce.number().int().min(1).max(MAX_EXPORT_ROWS).default(MAX_EXPORT_ROWS),
      }),
      response: {
        200: {
          description:
            'CSV with a header row: id,actor_type,actor_id,action,resource_type,resource_id,ip_address,created_at,…',
          content: { 'text/csv': { schema: z.string() } },
        },
      },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const filter = toFilter(request.query);
      const limit = request.query.limit;
      const csv = createAuditCsvStream();
      // Batches by keyset so memory stays bounded whatever the export size; backpressure via the stream.
      void (async () => {
        let before: string | undefined;
        let written = 0;
        try {
          while (written < limit) {
            const rows = await audit.list(auth.organizationId, filter, {
              limit: Math.min(EXPORT_BATCH, limit - written),
              ...(before ? { before } : {}),
            });
            for (const row of rows) {
              if (!csv.write(auditCsvRow(row))) await new Promise((resolve) => csv.once('drain', resolve));
            }
            written += rows.length;
            if (rows.length < EXPORT_BATCH) break;
            before = rows.at(-1)?.id;
          }
          csv.end();
        } catch (err) {
          request.log.error({ err }, 'audit export failed');
          csv.destroy(err as Error);
        }
      })();
      const date = new Date().toISOString().slice(0, 10);
      return (
        reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="audit-logs-${date}.csv"`)
          // A stream is piped as-is (never serialized); the schema above only documents the content.
          .send(csv as unknown as string)
      );
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/audit-logs/:id',
    config: { access },
    schema: {
      tags: ['audit'],
      summary: 'One audit event',
      params: z.strictObject({ id: auditIdSchema }),
      response: { 200: auditEntrySchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const record = await audit.get(auth.organizationId, request.params.id);
      if (!record) throw new GatewayError('AUDIT_LOG_NOT_FOUND', `Audit log ${request.params.id} not found`);
      return toEntry(record);
    },
  });
};
