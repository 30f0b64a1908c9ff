import { createDatabase, migrateToLatest } from '@capstan/store';
import { testServices } from '@capstan/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayServiceConfig, gatewayConfigSpec } from '../src/gateway-config.js';
import { startGatewayService } from '../src/start-gateway-service.js';
import { type ApiCall, type ApiResponse, apiClient, createKey, registerOrg } from './api-client.js';
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

/** A page of `GET /v1/users`, as far as the pagination test reads it. */
interface MemberPage {
  users: Array<{ id: string }>;
  pagination: { next_cursor: string | null };
}

let counter = 0;
const PASSWORD = 'initial password 1';

/** Adds a member as `token`'s holder and logs the member in; returns its id, email and login token. */
async function addMember(token: string, role: string) {
  counter++;
  const email = `member-${process.pid}-${counter}-${Date.now()}@Example.test`;
  const res = await api('POST', '/v1/users', {
    token,
    body: { email, name: `Member ${counter}`, role, password: PASSWORD },
  });
  if (res.status !== 201) throw new Error(`add member failed: ${res.status} ${res.text}`);
  const login = await api('POST', '/v1/auth/login', { body: { email, password: PASSWORD } });
  if (login.status !== 200) throw new Error(`member login failed: ${login.status} ${login.text}`);
  return { id: res.body.user.id as string, email: email.toLowerCase(), token: login.body.token as string };
}

const code = (res: { body: { error?: { code: number } } }) => res.body.error?.code;

describe('organization members: /v1/users', () => {
  it('adds a member with a role and an initial password; the member logs in and is listed', async () => {
    const org = await registerOrg(api, 'users-add');
    const email = `New.Person-${Date.now()}@Example.test`;
    const added = await api('POST', '/v1/users', {
      token: org.token,
      body: { email, name: 'New Person', role: 'developer', password: PASSWORD },
    });
    expect(added.status).toBe(201);
    expect(added.body.user).toMatchObject({
      email: email.toLowerCase(),
      name: 'New Person',
      role: 'developer',
      status: 'active',
      last_login_at: null,
      removed_at: null,
    });
    expect(added.body.user.id).toMatch(/^usr_[0-9a-f]{32}$/);
    expect(added.text).not.toContain('scrypt');

    const login = await api('POST', '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ organization_id: org.organizationId, user: { role: 'developer' } });
    // The member works inside the organization with its role.
    expect((await api('GET', '/v1/agents', { token: login.body.token })).status).toBe(200);

    const defaulted = await api('POST', '/v1/users', {
      token: org.token,
      body: { email: `viewer-${Date.now()}@example.test`, name: 'V', password: PASSWORD },
    });
    expect(defaulted.body.user.role).toBe('viewer');

    const list = await api('GET', '/v1/users', { token: org.token });
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(3);
    // Oldest first: the owner who registered the organization leads.
    expect(list.body.users.map((u: { id: string }) => u.id)).toEqual([
      org.userId,
      added.body.user.id,
      defaulted.body.user.id,
    ]);
    expect(list.body.users[1].last_login_at).not.toBeNull();
    const developers = await api('GET', '/v1/users?role=developer', { token: org.token });
    expect(developers.body.users.map((u: { id: string }) => u.id)).toEqual([added.body.user.id]);

    // Cursor pagination walks every member once.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse<MemberPage> = await api<MemberPage>(
        'GET',
        `/v1/users?per_page=1${cursor ? `&cursor=${cursor}` : ''}`,
        { token: org.token },
      );
      expect(page.body.users).toHaveLength(1);
      seen.push(page.body.users[0]?.id as string);
      cursor = page.body.pagination.next_cursor;
    } while (cursor);
    expect(seen).toEqual(list.body.users.map((u: { id: string }) => u.id));

    const one = await api('GET', `/v1/users/${added.body.user.id}`, { token: login.body.token });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: added.body.user.id, role: 'developer' });
  });

  it('refuses an email that already has an account, in any organization', async () => {
    const org = await registerOrg(api, 'users-dup');
    const other = await registerOrg(api, 'users-dup-other');
    const res = await api('POST', '/v1/users', {
      token: org.token,
      body: { email: other.email.toUpperCase(), name: 'Dup', role: 'viewer', password: PASSWORD },
    });
    expect(res.status).toBe(409);
    expect(code(res)).toBe(3001);
    expect(res.body.error.details).toEqual([
      { field: 'email', message: 'already belongs to an account', location: 'body' },
    ]);
  });

  it('rejects bad input with the fields named', async () => {
    const org = await registerOrg(api, 'users-bad');
    const bad = await api('POST', '/v1/users', {
      token: org.token,
      body: { email: 'not-an-email', name: '', role: 'superuser', password: 'short', extra: 1 },
    });
    expect(bad.status).toBe(400);
    expect(code(bad)).toBe(3001);
    const fields = (bad.body.error.details as Array<{ field: string }>).map((d) => d.field).sort();
    expect(fields).toEqual(['email', 'extra', 'name', 'password', 'role']);
    const missing = await api('POST', '/v1/users', { token: org.token, body: {} });
    expect(missing.status).toBe(400);
    expect(code(missing)).toBe(3002);
    const badId = await api('GET', '/v1/users/not-a-user', { token: org.token });
    expect(badId.status).toBe(400);
    expect(badId.body.error.details[0]).toMatchObject({ field: 'id', location: 'params' });
    const badPatch = await api('PATCH', `/v1/users/${org.userId}`, { token: org.token, body: { role: 'root' } });
    expect(badPatch.status).toBe(400);
    const badStatus = await api('GET', '/v1/users?status=gone', { token: org.token });
    expect(badStatus.status).toBe(400);
  });
});

describe('member role rules', () => {
  it('lets only admins and owners manage members; every member may list them', async () => {
    const org = await registerOrg(api, 'users-roles');
    const keys: Record<string, string> = {};
    for (const role of ['viewer', 'developer', 'admin', 'owner']) {
      keys[role] = (await createKey(api, org.token, { role })).key;
    }
    const target = await addMember(org.token, 'viewer');
    for (const role of ['viewer', 'developer', 'admin', 'owner']) {
      const manage = role === 'admin' || role === 'owner';
      expect((await api('GET', '/v1/users', { key: keys[role] })).status, `${role} lists`).toBe(200);
      expect((await api('GET', `/v1/users/${target.id}`, { key: keys[role] })).status, `${role} gets`).toBe(200);
      const add = await api('POST', '/v1/users', {
        key: keys[role],
        body: { email: `by-${role}-${Date.now()}@example.test`, name: role, role: 'viewer', password: PASSWORD },
      });
      expect(add.status, `${role} adds`).toBe(manage ? 201 : 403);
      const patch = await api('PATCH', `/v1/users/${target.id}`, { key: keys[role], body: { role: 'viewer' } });
      expect(patch.status, `${role} changes a role`).toBe(manage ? 200 : 403);
      if (!manage) expect(code(patch)).toBe(4003);
    }
  });

  it('never grants a role above the caller’s; only owners grant, change or remove owner', async () => {
    const org = await registerOrg(api, 'users-grant');
    const admin = await addMember(org.token, 'admin');
    const dev = await addMember(org.token, 'developer');

    const addOwner = await api('POST', '/v1/users', {
      token: admin.token,
      body: { email: `o-${Date.now()}@example.test`, name: 'O', role: 'owner', password: PASSWORD },
    });
    expect(addOwner.status).toBe(403);
    expect(code(addOwner)).toBe(4003);
    expect(addOwner.body.error.details).toEqual([{ field: 'role', message: 'at most admin', location: 'body' }]);

    const promoteToOwner = await api('PATCH', `/v1/users/${dev.id}`, { token: admin.token, body: { role: 'owner' } });
    expect(promoteToOwner.status).toBe(403);
    const promoteToAdmin = await api('PATCH', `/v1/users/${dev.id}`, { token: admin.token, body: { role: 'admin' } });
    expect(promoteToAdmin.status).toBe(200);
    expect(promoteToAdmin.body.role).toBe('admin');

    const demoteOwner = await api('PATCH', `/v1/users/${org.userId}`, { token: admin.token, body: { role: 'viewer' } });
    expect(demoteOwner.status).toBe(403);
    expect(demoteOwner.body.error.message).toContain('only an owner');
    const removeOwner = await api('DELETE', `/v1/users/${org.userId}`, { token: admin.token });
    expect(removeOwner.status).toBe(403);

    // An admin key of an owner acts as admin: the key caps the role.
    const adminKeyOfOwner = (await createKey(api, org.token, { role: 'admin' })).key;
    const viaKey = await api('PATCH', `/v1/users/${admin.id}`, { key: adminKeyOfOwner, body: { role: 'owner' } });
    expect(viaKey.status).toBe(403);

    const byOwner = await api('PATCH', `/v1/users/${admin.id}`, { token: org.token, body: { role: 'owner' } });
    expect(byOwner.status).toBe(200);
    expect(byOwner.body.role).toBe('owner');
  });

  it('keeps the last owner: it can be neither demoted nor removed', async () => {
    const org = await registerOrg(api, 'users-last');
    const demote = await api('PATCH', `/v1/users/${org.userId}`, { token: org.token, body: { role: 'admin' } });
    expect(demote.status).toBe(409);
    expect(code(demote)).toBe(1013);
    const remove = await api('DELETE', `/v1/users/${org.userId}`, { token: org.token });
    expect(remove.status).toBe(409);
    expect(code(remove)).toBe(1013);

    // With a second owner, the first may step down; then the second is the last one.
    const second = await addMember(org.token, 'owner');
    const stepDown = await api('PATCH', `/v1/users/${org.userId}`, { token: org.token, body: { role: 'admin' } });
    expect(stepDown.status).toBe(200);
    const removeLast = await api('DELETE', `/v1/users/${second.id}`, { token: second.token });
    expect(removeLast.status).toBe(409);
    expect(code(removeLast)).toBe(1013);
    // A removed owner does not count as an owner.
    const third = await addMember(second.token, 'owner');
    expect((await api('DELETE', `/v1/users/${third.id}`, { token: second.token })).status).toBe(204);
    const again = await api('PATCH', `/v1/users/${second.id}`, { token: second.token, body: { role: 'viewer' } });
    expect(code(again)).toBe(1013);
  });

  it('serializes concurrent changes: two owners demoting each other leave exactly one owner', async () => {
    for (let round = 0; round < 3; round++) {
      const org = await registerOrg(api, 'users-race');
      const other = await addMember(org.token, 'owner');
      const [a, b] = await Promise.all([
        api('PATCH', `/v1/users/${other.id}`, { token: org.token, body: { role: 'admin' } }),
        api('PATCH', `/v1/users/${org.userId}`, { token: other.token, body: { role: 'admin' } }),
      ]);
      const statuses = [a.status, b.status].sort();
      // The loser is refused either as the last owner or because its own owner role is gone (now admin).
      expect(statuses[0]).toBe(200);
      expect([403, 409]).toContain(statuses[1]);
      const owners = await api('GET', '/v1/users?role=owner', { token: a.status === 200 ? org.token : other.token });
      expect(owners.body.total).toBe(1);
    }
  });

  it('applies a role change on the member’s next request (no re-login)', async () => {
    const org = await registerOrg(api, 'users-effect');
    const admin = await addMember(org.token, 'admin');
    expect((await api('GET', '/v1/audit-logs', { token: admin.token })).status).toBe(200);
    await api('PATCH', `/v1/users/${admin.id}`, { token: org.token, body: { role: 'viewer' } });
    const after = await api('GET', '/v1/audit-logs', { token: admin.token });
    expect(after.status).toBe(403);
    expect(code(after)).toBe(4003);
    const refreshed = await api('POST', '/v1/auth/refresh', { token: admin.token });
    expect(refreshed.status).toBe(200);
    const payload = JSON.parse(Buffer.from(refreshed.body.token.split('.')[1], 'base64url').toString());
    expect(payload.role).toBe('viewer');
  });
});

describe('removing a member', () => {
  it('kills its JWTs, refreshes, API keys and key-exchanged tokens at once, on every replica', async () => {
    const org = await registerOrg(api, 'users-remove');
    const dev = await addMember(org.token, 'developer');
    const devKey = await createKey(api, dev.token, { name: 'dev key' });
    const exchanged = await api('POST', '/v1/auth/token', { body: { api_key: devKey.key } });
    expect(exchanged.status).toBe(200);
    const replica = await gw.startReplica();
    const replicaApi = apiClient(replica.url);
    expect((await replicaApi('GET', '/v1/agents', { token: dev.token })).status).toBe(200);

    const removed = await api('DELETE', `/v1/users/${dev.id}`, { token: org.token });
    expect(removed.status).toBe(204);

    for (const call of [api, replicaApi]) {
      const jwt = await call('GET', '/v1/agents', { token: dev.token });
      expect(jwt.status).toBe(403);
      expect(code(jwt)).toBe(5005);
      const refresh = await call('POST', '/v1/auth/refresh', { token: dev.token });
      expect(refresh.status).toBe(403);
      expect(code(refresh)).toBe(5005);
      const key = await call('GET', '/v1/agents', { key: devKey.key });
      expect(key.status).toBe(401);
      expect(code(key)).toBe(5002);
      const viaKeyToken = await call('GET', '/v1/agents', { token: exchanged.body.token });
      expect(viaKeyToken.status).toBe(401);
      expect((await call('POST', '/v1/auth/token', { body: { api_key: devKey.key } })).status).toBe(401);
    }
    const login = await api('POST', '/v1/auth/login', { body: { email: dev.email, password: PASSWORD } });
    expect(login.status).toBe(403);
    expect(code(login)).toBe(5005);

    // The row stays for the audit trail, as a removed member.
    const one = await api('GET', `/v1/users/${dev.id}`, { token: org.token });
    expect(one.body).toMatchObject({ status: 'removed' });
    expect(one.body.removed_at).not.toBeNull();
    const active = await api('GET', '/v1/users', { token: org.token });
    expect(active.body.users.map((u: { id: string }) => u.id)).not.toContain(dev.id);
    const gone = await api('GET', '/v1/users?status=removed', { token: org.token });
    expect(gone.body.users.map((u: { id: string }) => u.id)).toEqual([dev.id]);
    expect((await api('GET', '/v1/users?status=all', { token: org.token })).body.total).toBe(2);
    const keys = await api('GET', `/v1/api-keys/${devKey.id}`, { token: org.token });
    expect(keys.body.revoked_at).not.toBeNull();

    // Removing again succeeds (idempotent); a removed member's role cannot change; its email stays taken.
    expect((await api('DELETE', `/v1/users/${dev.id}`, { token: org.token })).status).toBe(204);
    const patch = await api('PATCH', `/v1/users/${dev.id}`, { token: org.token, body: { role: 'admin' } });
    expect(patch.status).toBe(409);
    expect(code(patch)).toBe(1014);
    const readd = await api('POST', '/v1/users', {
      token: org.token,
      body: { email: dev.email, name: 'Back', role: 'viewer', password: PASSWORD },
    });
    expect(readd.status).toBe(409);
  });

  it('lets a member remove themselves; its own token dies with it', async () => {
    const org = await registerOrg(api, 'users-self');
    const admin = await addMember(org.token, 'admin');
    expect((await api('DELETE', `/v1/users/${admin.id}`, { token: admin.token })).status).toBe(204);
    expect(code(await api('GET', '/v1/users', { token: admin.token }))).toBe(5005);
  });
});

describe('tenant isolation of members', () => {
  it('answers 404 (never 403, never data) for another organization’s user ids', async () => {
    const a = await registerOrg(api, 'users-tenant-a');
    const b = await registerOrg(api, 'users-tenant-b');
    const aMember = await addMember(a.token, 'developer');
    const bAdminKey = (await createKey(api, b.token, { role: 'admin' })).key;
    const unknown = `usr_${'0'.repeat(32)}`;
    for (const id of [a.userId, aMember.id, unknown]) {
      for (const credential of [{ token: b.token }, { key: bAdminKey }]) {
        for (const [method, body] of [
          ['GET', undefined],
          ['PATCH', { role: 'viewer' }],
          ['DELETE', undefined],
        ] as const) {
          const res = await api(method, `/v1/users/${id}`, { ...credential, ...(body ? { body } : {}) });
          expect(res.status, `${method} ${id}`).toBe(404);
          expect(code(res)).toBe(5004);
          expect(res.body.error.message).toBe(`User ${id} not found`);
        }
      }
    }
    const list = await api('GET', '/v1/users?status=all', { token: b.token });
    expect(list.body.users.map((u: { id: string }) => u.id)).toEqual([b.userId]);
    // A's members are untouched.
    const still = await api('GET', `/v1/users/${aMember.id}`, { token: a.token });
    expect(still.body).toMatchObject({ role: 'developer', status: 'active' });
    // X-Organization-Id naming A does not switch B's tenant.
    const mismatch = await api('GET', `/v1/users/${aMember.id}`, {
      token: b.token,
      headers: { 'x-organization-id': a.organizationId },
    });
    expect(mismatch.status).toBe(404);
    expect(mismatch.headers.get('x-organization-mismatch')).toBe('true');
  });
});

describe('scopes and audit', () => {
  it('needs users:read / users:write on scoped keys', async () => {
    const org = await registerOrg(api, 'users-scopes');
    const agentsOnly = (await createKey(api, org.token, { role: 'admin', scopes: ['agents:read'] })).key;
    const readOnly = (await createKey(api, org.token, { role: 'admin', scopes: ['users:read'] })).key;
    const readWrite = (await createKey(api, org.token, { role: 'admin', scopes: ['users:read', 'users:write'] })).key;
    expect((await api('GET', '/v1/users', { key: agentsOnly })).status).toBe(403);
    expect((await api('GET', '/v1/users', { key: readOnly })).status).toBe(200);
    const body = { email: `s-${Date.now()}@example.test`, name: 'S', role: 'viewer', password: PASSWORD };
    const denied = await api('POST', '/v1/users', { key: readOnly, body });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain('users:write');
    expect((await api('POST', '/v1/users', { key: readWrite, body })).status).toBe(201);
  });

  it('appends every change, success or failure, to the audit log', async () => {
    const org = await registerOrg(api, 'users-audit');
    const member = await addMember(org.token, 'developer');
    const devKey = await createKey(api, member.token);
    await api('PATCH', `/v1/users/${member.id}`, { token: org.token, body: { role: 'admin' } });
    await api('PATCH', `/v1/users/${org.userId}`, { token: org.token, body: { role: 'viewer' } });
    await api('DELETE', `/v1/users/${member.id}`, { token: org.token });

    const res = await api('GET', '/v1/audit-logs?resource_type=user&per_page=200', { token: org.token });
    const logs = (res.body.logs as Array<Record<string, unknown>>).filter((l) => String(l.action).startsWith('user.'));
    expect(logs.map((l) => `${l.action}:${l.outcome}:${l.resource_id}`).reverse()).toEqual([
      `user.added:success:${member.id}`,
      `user.role_changed:success:${member.id}`,
      `user.role_changed:failure:${org.userId}`,
      `user.removed:success:${member.id}`,
    ]);
    const [removed, lastOwner, changed, added] = logs;
    expect(added).toMatchObject({
      actor_type: 'user',
      actor_id: org.userId,
      status_code: 201,
      details: { email: member.email, role: 'developer' },
    });
    expect(JSON.stringify(added)).not.toContain(PASSWORD);
    expect(changed).toMatchObject({ details: { from: 'developer', to: 'admin' } });
    expect(lastOwner).toMatchObject({ status_code: 409, details: { from: 'owner', to: 'viewer', error_code: 1013 } });
    expect(removed).toMatchObject({ status_code: 204, details: { role: 'admin', revoked_api_keys: 1 } });
    expect(devKey.id).toMatch(/^key_/);
  });
});

describe('members on the embedded PGlite store', () => {
  it('adds, re-roles and removes members, with the organization lock, on PGlite', async () => {
    const services = testServices();
    const store = await createDatabase({ url: 'pglite:memory' });
    try {
      await migrateToLatest(store.db);
      const config: Record<string, unknown> = {};
      for (const [name, field] of Object.entries(gatewayConfigSpec)) config[name] = field.default;
      const service = await startGatewayService(
        {
          ...(config as GatewayServiceConfig),
          natsUrl: services.natsUrl,
          redisUrl: services.redisUrl,
          listenHost: '127.0.0.1',
          port: 0,
          metricsPort: 0,
          logLevel: 'silent',
        },
        { store, logger: pino({ level: 'silent' }) },
      );
      try {
        const lite = apiClient(service.url);
        const org = await registerOrg(lite, 'users-pglite');
        const added = await lite('POST', '/v1/users', {
          token: org.token,
          body: { email: `lite-${Date.now()}@example.test`, name: 'Lite', role: 'admin', password: PASSWORD },
        });
        expect(added.status).toBe(201);
        const id = added.body.user.id as string;
        expect((await lite('PATCH', `/v1/users/${id}`, { token: org.token, body: { role: 'owner' } })).body.role).toBe(
          'owner',
        );
        // With two owners the first may leave; its own token then dies with it.
        expect((await lite('DELETE', `/v1/users/${org.userId}`, { token: org.token })).status).toBe(204);
        expect(code(await lite('DELETE', `/v1/users/${id}`, { token: org.token }))).toBe(5005);
        const list = await lite('GET', '/v1/users?status=all', {
          token: (
            await lite('POST', '/v1/auth/login', {
              body: { email: added.body.user.email, password: PASSWORD },
            })
          ).body.token,
        });
        expect(list.body.users.map((u: { status: string }) => u.status)).toEqual(['removed', 'active']);
      } finally {
        await service.stop();
      }
    } finally {
      await store.close();
    }
  });
});
