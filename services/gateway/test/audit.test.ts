import { parse } from 'csv-parse/sync';
import { type KyselyPlugin, sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEntry, createAuditLog } from '../src/audit/audit-log.js';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
let api: ApiCall;
beforeAll(async () => {
  gw = await startTestGateway();
  api = apiClient(gw.url);
});
afterAll(async () => {
  await gw?.stop();
});

describe('audit log', () => {
  it('records every mutating call and security event with actor, action, resource, IP and time', async () => {
    const org = await registerOrg(api, 'audit');
    const key = await createKey(api, org.token, { name: 'audited' });
    await api('POST', '/v1/agents', { token: org.token, body: { agent_id: 'audited-agent' } });
    await api('DELETE', '/v1/agents/audited-agent', { token: org.token, headers: { 'user-agent': 'audit-test/1.0' } });
    await api('DELETE', `/v1/api-keys/${key.id}`, { token: org.token });
    await api('POST', '/v1/auth/login', { body: { email: org.email, password: 'wrong password' } });
    await api('POST', '/v1/auth/login', { body: { email: org.email, password: org.password } });
    const viewer = await createKey(api, org.token, { role: 'viewer' });
    await api('GET', '/v1/audit-logs', { key: viewer.key });

    const res = await api('GET', '/v1/audit-logs?per_page=200', { token: org.token });
    expect(res.status).toBe(200);
    const logs = res.body.logs as Array<Record<string, unknown>>;
    const actions = logs.map((l) => `${l.action}:${l.outcome}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'organization.registered:success',
        'api_key.created:success',
        'agent.registered:success',
        'agent.deleted:success',
        'api_key.revoked:success',
        'auth.login:failure',
        'auth.login:success',
        'auth.permission_denied:failure',
      ]),
    );
    const deleted = logs.find((l) => l.action === 'agent.deleted');
    expect(deleted).toMatchObject({
      organization_id: org.organizationId,
      actor_type: 'user',
      actor_id: org.userId,
      resource_type: 'agent',
      resource_id: 'audited-agent',
      status_code: 204,
      ip_address: '127.0.0.1',
      user_agent: 'audit-test/1.0',
    });
    expect(new Date(deleted?.created_at as string).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const failedLogin = logs.find((l) => l.action === 'auth.login' && l.outcome === 'failure');
    expect(failedLogin).toMatchObject({ status_code: 401, details: { email: org.email, error_code: 4001 } });
    const created = logs.find((l) => l.action === 'api_key.created');
    expect(JSON.stringify(created)).not.toContain('cacp_live_');
    // Newest first.
    expect(logs[0]?.action).toBe('auth.permission_denied');

    const one = await api('GET', `/v1/audit-logs/${deleted?.id}`, { token: org.token });
    expect(one.status).toBe(200);
    expect(one.body).toEqual(deleted);
    const missing = await api('GET', `/v1/audit-logs/log_${'0'.repeat(32)}`, { token: org.token });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe(9001);
  });

  it('filters, pages by cursor and by page number', async () => {
    const org = await registerOrg(api, 'audit-pages');
    for (let i = 0; i < 5; i++) await createKey(api, org.token, { name: `k${i}` });
    const filtered = await api('GET', '/v1/audit-logs?action=api_key.created&resource_type=api_key', {
      token: org.token,
    });
    expect(filtered.body.logs).toHaveLength(5);
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: Awaited<ReturnType<ApiCall>> = await api(
        'GET',
        `/v1/audit-logs?action=api_key.created&per_page=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: org.token },
      );
      seen.push(...page.body.logs.map((l: { id: string }) => l.id));
      cursor = page.body.pagination.next_cursor;
    }
    expect(seen).toEqual(filtered.body.logs.map((l: { id: string }) => l.id));
    const paged = await api('GET', '/v1/audit-logs?action=api_key.created&page=2&per_page=2', { token: org.token });
    expect(paged.body.pagination).toMatchObject({ page: 2, per_page: 2, total: 5, total_pages: 3, has_more: true });
    expect(paged.body.logs.map((l: { id: string }) => l.id)).toEqual(seen.slice(2, 4));
    const future = await api('GET', `/v1/audit-logs?from=${new Date(Date.now() + 3_600_000).toISOString()}`, {
      token: org.token,
    });
    expect(future.body.logs).toHaveLength(0);
    const bad = await api('GET', '/v1/audit-logs?from=yesterday&page=0', { token: org.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['from', 'page']);
    const both = await api('GET', `/v1/audit-logs?page=1&cursor=${paged.body.pagination.next_cursor}`, {
      token: org.token,
    });
    expect(both.status).toBe(400);
    const deep = await api('GET', '/v1/audit-logs?page=100000', { token: org.token });
    expect(deep.status).toBe(400);
    expect(deep.body.error.message).toContain('use cursor');
  });

  it('exports CSV with formula injection neutralized', async () => {
    const org = await registerOrg(api, 'audit-csv');
    await api('POST', '/v1/agents', {
      token: org.token,
      body: { agent_id: 'csv-agent' },
      headers: { 'user-agent': '=HYPERLINK("http://x")' },
    });
    const res = await api('GET', '/v1/audit-logs/export?action=agent.registered', { token: org.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="audit-logs-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    const rows = parse(res.text, { columns: true }) as Array<Record<string, string>>;
    expect(Object.keys(rows[0] ?? {}).slice(0, 8)).toEqual([
      'id',
      'actor_type',
      'actor_id',
      'action',
      'resource_type',
      'resource_id',
      'ip_address',
      'created_at',
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: 'agent.registered',
      resource_id: 'csv-agent',
      user_agent: `'=HYPERLINK("http://x")`,
    });
    const limited = await api('GET', '/v1/audit-logs/export?limit=1', { token: org.token });
    expect(limited.text.trim().split('\n')).toHaveLength(2);
  });

  it('needs admin, and the table refuses updates and deletes', async () => {
    const org = await registerOrg(api, 'audit-admin');
    const developer = await createKey(api, org.token, { role: 'developer' });
    const denied = await api('GET', '/v1/audit-logs/export', { key: developer.key });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe(4003);
    await expect(sql`UPDATE audit_logs SET action = 'x'`.execute(gw.store.db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM audit_logs`.execute(gw.store.db)).rejects.toThrow(/append-only/);
  });

  it('group-commits concurrent entries: few INSERTs, each call resolves once its entry is stored, a bad one costs only itself', async () => {
    let inserts = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        if (args.node.kind === 'InsertQueryNode') inserts++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const logLines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
    const log = createAuditLog(gw.store.db.withPlugin(counting), logger);
    const entry = (i: number): AuditEntry => ({
      organizationId: 'org-batch',
      actorType: 'system',
      actorId: `actor-${i}`,
      action: 'test.batched',
      resourceType: 'test',
      resourceId: String(i),
      outcome: 'success',
      statusCode: 200,
      ipAddress: null,
      userAgent: '',
      traceId: `trace-${i}`,
      details: { i },
    });
    // Entry 7 cannot be stored (PostgreSQL text refuses NUL): its batch falls back to one INSERT per entry.
    const ids = await Promise.all(
      Array.from({ length: 60 }, (_, i) => log.record(i === 7 ? { ...entry(i), actorId: 'bad\u0000' } : entry(i))),
    );
    expect(ids[7]).toBeNull();
    expect(ids.filter((id) => id !== null)).toHaveLength(59);
    // The refused entry is not lost: it is in the error log, whole.
    expect(logLines).toHaveLength(1);
    expect(logLines[0]).toMatchObject({
      msg: expect.stringContaining('could not append audit log entry'),
      audit_entry: { action: 'test.batched', resource_id: '7', trace_id: 'trace-7' },
    });
    const rows = await gw.store.db
      .selectFrom('audit_logs')
      .select(['id', 'resource_id'])
      .where('action', '=', 'test.batched')
      .execute();
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(ids.filter((id) => id !== null)));
    expect(rows).toHaveLength(59);
    // 60 entries in one tick: one multi-row INSERT that fails, then 60 single ones; never one transaction per
    // entry for the good case, which the next burst shows.
    const before = inserts;
    const more = await Promise.all(Array.from({ length: 60 }, (_, i) => log.record(entry(100 + i))));
    expect(more.every((id) => id !== null)).toBe(true);
    expect(inserts - before).toBeLessThanOrEqual(2);
  });
});
