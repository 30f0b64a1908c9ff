import { create, toBinary } from '@bufbuild/protobuf';
import { PresenceAnnouncementSchema, PresenceOp } from '@capstan/gen/capstan/gateway/v1/presence_pb';
import { CapstanSubjects } from '@capstan/protocol';
import { testServices } from '@capstan/testkit';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentPresence } from '../src/agents/agent-presence.js';
import { startPresenceSharing } from '../src/agents/presence-sharing.js';
import type { GatewayService } from '../src/start-gateway-service.js';
import { type ApiCall, apiClient, registerOrg } from './api-client.js';
import { connectPhoenix, sleep } from './jobs-stack.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

// Short TTL so expiry is observable; snapshots then refresh every 500 ms.
const TTL_MS = 1500;

let gw: TestGateway;
let replicaB: GatewayService;
let apiA: ApiCall;
let apiB: ApiCall;
let org: Awaited<ReturnType<typeof registerOrg>>;
let nc: NatsConnection;

beforeAll(async () => {
  gw = await startTestGateway({ presenceTtlMs: TTL_MS });
  replicaB = await gw.startReplica();
  apiA = apiClient(gw.url);
  apiB = apiClient(replicaB.url);
  org = await registerOrg(apiA, 'presence');
  nc = await connect({ servers: testServices().natsUrl });
});
afterAll(async () => {
  await nc?.close();
  await gw?.stop();
});

let counter = 0;
async function registerAgent(): Promise<{ agentId: string; key: string }> {
  counter++;
  const agentId = `presence-agent-${Date.now()}-${counter}`;
  const res = await apiA('POST', '/v1/agents', { token: org.token, body: { agent_id: agentId } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return { agentId, key: res.body.api_key as string };
}

const availabilityOn = async (api: ApiCall, agentId: string): Promise<string> =>
  (await api('GET', `/v1/agents/${agentId}`, { token: org.token })).body.availability;

const onlineIds = async (api: ApiCall): Promise<string[]> =>
  ((await api('GET', '/v1/agents?status=online', { token: org.token })).body.agents as Array<{ agent_id: string }>)
    .map((a) => a.agent_id)
    .sort();

type Announcement = { replica: string; op: PresenceOp; agentIds: string[] };
function announce(body: Announcement | Uint8Array): void {
  nc.publish(
    CapstanSubjects.gatewayPresence,
    body instanceof Uint8Array ? body : toBinary(PresenceAnnouncementSchema, create(PresenceAnnouncementSchema, body)),
  );
}

describe('agent presence shared between gateway replicas over NATS', () => {
  it('reports an agent connected to replica A as online on replica B, and offline on both once it leaves', async () => {
    const { agentId, key } = await registerAgent();
    expect(await availabilityOn(apiB, agentId)).toBe('offline');
    const agent = await connectPhoenix(gw.url, key);
    try {
      expect(await agent.join(`agent:${agentId}`)).toMatchObject({ status: 'ok' });
      expect(await availabilityOn(apiA, agentId)).toBe('online');
      await expect.poll(() => availabilityOn(apiB, agentId), { timeout: 1000 }).toBe('online');
      expect(await onlineIds(apiB)).toContain(agentId);
      const workers = await apiB('GET', '/v1/workers', { token: org.token });
      // Live everywhere; the socket itself is on replica A.
      expect(workers.body.workers).toContainEqual(
        expect.objectContaining({ worker_id: agentId, availability: 'online', connected: false, heartbeat: null }),
      );
      // Still online on B well past the TTL: replica A keeps refreshing while the session lasts.
      await sleep(TTL_MS * 2);
      expect(await availabilityOn(apiB, agentId)).toBe('online');
    } finally {
      agent.close();
      await agent.closed;
    }
    // Gone at once (A announces the close), not only after the TTL.
    await expect.poll(() => availabilityOn(apiB, agentId), { timeout: TTL_MS - 500 }).toBe('offline');
    expect(await availabilityOn(apiA, agentId)).toBe('offline');
  });

  it('agrees from the start on a replica that joins while sessions are open, and forgets a replica that stops', async () => {
    const { agentId, key } = await registerAgent();
    const replicaC = await gw.startReplica();
    const agent = await connectPhoenix(replicaC.url, key);
    try {
      expect(await agent.join(`agent:${agentId}`)).toMatchObject({ status: 'ok' });
      await expect.poll(() => availabilityOn(apiA, agentId), { timeout: 1000 }).toBe('online');
      // A replica started now learns of the open session from the others' answer to its hello.
      const replicaD = await gw.startReplica();
      await expect.poll(() => availabilityOn(apiClient(replicaD.url), agentId), { timeout: 1000 }).toBe('online');
      await replicaD.stop();
      // Replica C shuts down with the session still open: the others drop it at once.
      const closed = agent.closed;
      await replicaC.stop();
      await closed;
      await expect.poll(() => availabilityOn(apiA, agentId), { timeout: TTL_MS - 500 }).toBe('offline');
      expect(await availabilityOn(apiB, agentId)).toBe('offline');
    } finally {
      agent.close();
    }
  });

  it('expires what a crashed replica announced after the TTL, honours bye, and ignores malformed announcements', async () => {
    const { agentId } = await registerAgent();
    const ghost = `ghost-${Date.now()}`;
    announce({ replica: ghost, op: PresenceOp.UP, agentIds: [agentId] });
    await expect.poll(() => availabilityOn(apiA, agentId), { timeout: 1000 }).toBe('online');
    expect(await availabilityOn(apiB, agentId)).toBe('online');
    // No refresh follows (the replica "crashed"): offline once the TTL has passed.
    await expect.poll(() => availabilityOn(apiA, agentId), { timeout: TTL_MS + 1500 }).toBe('offline');

    announce({ replica: ghost, op: PresenceOp.SNAPSHOT, agentIds: [agentId] });
    await expect.poll(() => availabilityOn(apiB, agentId), { timeout: 1000 }).toBe('online');
    announce({ replica: ghost, op: PresenceOp.BYE, agentIds: [] });
    await expect.poll(() => availabilityOn(apiB, agentId), { timeout: TTL_MS - 500 }).toBe('offline');

    const bad: Array<Announcement | Uint8Array> = [
      new TextEncoder().encode('not protobuf {"op":"up"}'),
      { replica: ghost, op: 99 as PresenceOp, agentIds: [agentId] },
      { replica: ghost, op: PresenceOp.UNSPECIFIED, agentIds: [agentId] },
      { replica: '', op: PresenceOp.UP, agentIds: [agentId] },
      { replica: ghost, op: PresenceOp.UP, agentIds: [''] },
      { replica: ghost, op: PresenceOp.UP, agentIds: Array.from({ length: 1001 }, (_, i) => `w${i}`) },
    ];
    for (const b of bad) announce(b);
    await nc.flush();
    await sleep(200);
    expect(await availabilityOn(apiA, agentId)).toBe('offline');
    expect(await availabilityOn(apiB, agentId)).toBe('offline');
    // Both replicas still work after the garbage.
    announce({ replica: ghost, op: PresenceOp.UP, agentIds: [agentId] });
    await expect.poll(() => availabilityOn(apiB, agentId), { timeout: 1000 }).toBe('online');
    announce({ replica: ghost, op: PresenceOp.DOWN, agentIds: [agentId] });
    await expect.poll(() => availabilityOn(apiB, agentId), { timeout: 1000 }).toBe('offline');
  });
});

describe('presence sharing without the HTTP layer', () => {
  it('answers a new replica’s hello with snapshots chunked to the announcement limit', async () => {
    const logger = pino({ level: 'silent' });
    // A refresh far beyond the test: only the hello can explain what B learns.
    const presenceA = createAgentPresence({ ttlMs: 60_000 });
    const presenceB = createAgentPresence({ ttlMs: 60_000 });
    const ncB = await connect({ servers: testServices().natsUrl });
    const prefix = `bulk-${Date.now()}-`;
    const ids = Array.from({ length: 2500 }, (_, i) => `${prefix}${i}`);
    // Other test files' gateways share this NATS and announce their own sessions: count only ours.
    const ours = () => presenceB.liveWorkerIds().filter((id) => id.startsWith(prefix)).length;
    const releases = ids.map((id) => presenceA.connect(id));
    const a = startPresenceSharing({ nc, presence: presenceA, ttlMs: 60_000, refreshMs: 600_000, logger });
    await nc.flush();
    const b = startPresenceSharing({ nc: ncB, presence: presenceB, ttlMs: 60_000, refreshMs: 600_000, logger });
    try {
      await expect.poll(ours, { timeout: 2000 }).toBe(2500);
      // hello + a 3-chunk snapshot at start (before B listened) + a 3-chunk answer to B's hello (more if other
      // files' gateways said hello meanwhile).
      expect(a.stats().published).toBeGreaterThanOrEqual(7);
      expect(b.stats().received).toBeGreaterThanOrEqual(3);
      // Changes travel at once; B's own sessions are not echoed back to it.
      releases[0]?.();
      await expect.poll(() => presenceB.availability(ids[0] as string), { timeout: 2000 }).toBe('offline');
      const releaseOnB = presenceB.connect('only-on-b');
      await expect.poll(() => presenceA.availability('only-on-b'), { timeout: 2000 }).toBe('online');
      expect(presenceB.localConnectionIds()).toEqual(['only-on-b']);
      releaseOnB();
      await expect.poll(() => presenceA.availability('only-on-b'), { timeout: 2000 }).toBe('offline');
      await a.stop();
      await expect.poll(ours, { timeout: 2000 }).toBe(0);
    } finally {
      await a.stop();
      await b.stop();
      await ncB.close();
    }
  });
});
