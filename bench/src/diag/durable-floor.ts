/**
 * `node --conditions=@capstan/source --import tsx bench/src/diag/durable-floor.ts [jobs]`: what the servers alone
 * must spend per job for the least work the scheduler issue asks of every job, with no Capstan code in between,
 * beside BullMQ's whole job in the same run. A diagnostic for judging the e2e-noop throughput goal, not a benchmark.
 *
 * The least work, each part done as cheaply as the server allows:
 * - Postgres: the job's row and its transition events, committed before it counts as accepted (the issue: "a job is
 *   accepted once its row commits", "an append-only job-event table"), then its terminal state. Two statements per
 *   batch (accept: the rows and PENDING, SCHEDULED, DISPATCHED events; finish: the update and the SUCCEEDED event),
 *   on a table with only a primary key (Capstan's `jobs` has six more indexes), at 100 jobs per statement (Capstan
 *   reaches ~5 under load) and at 5.
 * - NATS: core publishes only (no JetStream): submit, dispatch, result and the terminal event the client waits for,
 *   each to one subscriber.
 * - NATS with JetStream, as Capstan's durability model has it: the submit and the result each published to a
 *   work-queue stream (file storage, message id for dedupe) and acknowledged, delivered to a durable pull consumer
 *   and acknowledged there; the dispatch and the terminal event stay core publishes.
 * - Redis: the input pointer written and read, the result pointer written (three plain commands, pipelined).
 * - Protobuf: the packets one job needs at the least (submit, dispatch, result, one job event), each encoded once
 *   and decoded once with the generated types, in this process.
 * CPU is read from /proc for each server; the Node side (one process playing client, scheduler and worker with no
 * logic at all) is printed apart.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { JobEventKind, JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { JobResultSchema, JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { createDatabase } from '@capstan/store';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { ownCpuSeconds } from '../lib/e2e-phases.js';
import { addWorkQueueStream, floorJobRequest, measureBullmqJobs } from '../lib/floor.js';
import { cpuSeconds } from '../lib/processes.js';
import { startServers } from '../lib/stack.js';

const jobs = Number(process.argv[2] ?? 20000);
const servers = await startServers();
const store = await createDatabase({ url: servers.env['DATABASE_URL']!, poolSize: 4 });
const perJobMs = (seconds: number) => ((1000 * seconds) / jobs).toFixed(3);

/** CPU seconds `fn` cost the process `pid` (and its children, for Postgres) and this process. */
async function measure(pid: number, tree: boolean, fn: () => Promise<void>) {
  const [server0, own0] = [cpuSeconds(pid, tree), ownCpuSeconds()];
  const started = performance.now();
  await fn();
  await new Promise((r) => setTimeout(r, 300));
  return {
    server: cpuSeconds(pid, tree) - server0,
    node: ownCpuSeconds() - own0,
    seconds: (performance.now() - started) / 1000 - 0.3,
  };
}

// ---- Postgres
await sql`CREATE TABLE floor_jobs (job_id text PRIMARY KEY, tenant text NOT NULL, topic text NOT NULL,
  state text NOT NULL, request bytea NOT NULL, result_ptr text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`.execute(store.db);
await sql`CREATE TABLE floor_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job_id text NOT NULL,
  seq integer NOT NULL, to_state text NOT NULL, at timestamptz NOT NULL DEFAULT now())`.execute(store.db);
const request = new Uint8Array(120).fill(7);

async function postgresRun(prefix: string, batch: number) {
  const inFlight = new Set<Promise<void>>();
  for (let start = 0; start < jobs; start += batch) {
    const ids = Array.from({ length: Math.min(batch, jobs - start) }, (_, i) => `${prefix}${start + i}`);
    const work = (async () => {
      await sql`WITH j AS (
          INSERT INTO floor_jobs (job_id, tenant, topic, state, request)
          SELECT id, 't', 'job.bench', 'DISPATCHED', ${request} FROM unnest(${ids}::text[]) AS id RETURNING job_id)
        INSERT INTO floor_events (job_id, seq, to_state)
        SELECT job_id, s, (ARRAY['PENDING','SCHEDULED','DISPATCHED'])[s] FROM j, generate_series(1, 3) AS s`.execute(
        store.db,
      );
      await sql`WITH u AS (
          UPDATE floor_jobs SET state = 'SUCCEEDED', result_ptr = 'redis://res:' || job_id, updated_at = now()
          WHERE job_id = ANY(${ids}::text[]) RETURNING job_id)
        INSERT INTO floor_events (job_id, seq, to_state) SELECT job_id, 4, 'SUCCEEDED' FROM u`.execute(store.db);
    })();
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    if (inFlight.size >= 2) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

// ---- NATS (core): submit → "scheduler" → dispatch → "worker" → result → "scheduler" → event → client.
const nc = await connect({ servers: servers.nats.url });
async function natsRun() {
  const body = new Uint8Array(200).fill(1);
  let done = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((r) => {
    finished = r;
  });
  nc.subscribe('floor.submit', { callback: (_e, m) => nc.publish('floor.dispatch', m.data) });
  nc.subscribe('floor.dispatch', { callback: (_e, m) => nc.publish('floor.result', m.data) });
  nc.subscribe('floor.result', { callback: (_e, m) => nc.publish('floor.event', m.data) });
  nc.subscribe('floor.event', {
    callback: () => {
      if (++done === jobs) finished();
    },
  });
  await nc.flush();
  for (let i = 0; i < jobs; i++) {
    nc.publish('floor.submit', body);
    if (i % 500 === 499) await nc.flush();
  }
  await allDone;
}

// ---- NATS with JetStream: the submit and the result through work-queue streams, as Capstan's bus configures them.
async function jetstreamRun(prefix: string) {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  for (const name of ['FLOOR_SUBMIT', 'FLOOR_RESULT'])
    await addWorkQueueStream(jsm, name, `floorjs.${name.toLowerCase()}`);
  const body = new Uint8Array(200).fill(1);
  let done = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((r) => {
    finished = r;
  });
  const consume = async (stream: string, onMessage: (data: Uint8Array) => void) => {
    const messages = await (await js.consumers.get(stream, 'c')).consume({ max_messages: 128, expires: 5000 });
    void (async () => {
      for await (const m of messages) {
        m.ack();
        onMessage(m.data);
      }
    })();
    return messages;
  };
  const submits = await consume('FLOOR_SUBMIT', (data) => nc.publish('floorjs.dispatch', data));
  const results = await consume('FLOOR_RESULT', (data) => nc.publish('floorjs.event', data));
  let resultId = 0;
  nc.subscribe('floorjs.dispatch', {
    callback: (_e, m) => void js.publish('floorjs.floor_result', m.data, { msgID: `${prefix}r${resultId++}` }),
  });
  nc.subscribe('floorjs.event', {
    callback: () => {
      if (++done === jobs) finished();
    },
  });
  await nc.flush();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < jobs; i++) {
    const p = js.publish('floorjs.floor_submit', body, { msgID: `${prefix}${i}` });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= 500) await Promise.race(inFlight);
  }
  await allDone;
  submits.stop();
  results.stop();
}

// ---- Redis: SET ctx, GET ctx, SET res, auto-pipelined like Capstan's pointer store.
const redis = new Redis(servers.redis.url, { enableAutoPipelining: true });
async function redisRun() {
  const input = JSON.stringify({ i: 1 });
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < jobs; i++) {
    const work = (async () => {
      await redis.set(`ctx:${i}`, input, 'PX', 60_000);
      await redis.get(`ctx:${i}`);
      await redis.set(`res:${i}`, input, 'PX', 60_000);
    })();
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    if (inFlight.size >= 500) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

// ---- Protobuf: submit, dispatch, result and one job event, each encoded and decoded once.
function protobufRun() {
  const at = timestampFromMs(Date.now());
  for (let i = 0; i < jobs; i++) {
    const jobId = `p-${i}`;
    const request = floorJobRequest(jobId);
    const packet = (payload: Parameters<typeof create<typeof BusPacketSchema>>[1]) =>
      toBinary(
        BusPacketSchema,
        create(BusPacketSchema, { traceId: jobId, senderId: 'floor', protocolVersion: 1, ...payload }),
      );
    fromBinary(BusPacketSchema, packet({ payload: { case: 'jobRequest', value: request } }));
    request.env['capstan.attempt'] = '1';
    request.env['capstan.lease_epoch'] = '1';
    fromBinary(BusPacketSchema, packet({ payload: { case: 'jobRequest', value: request } }));
    const result = create(JobResultSchema, {
      jobId,
      status: JobStatus.SUCCEEDED,
      resultPtr: `redis://res:${jobId}`,
      workerId: 'w1',
    });
    fromBinary(BusPacketSchema, packet({ payload: { case: 'jobResult', value: result } }));
    const event = create(JobEventSchema, {
      kind: JobEventKind.TRANSITION,
      job: {
        jobId,
        tenant: 'default',
        topic: 'job.bench',
        state: 'SUCCEEDED',
        attempt: 1,
        leaseEpoch: 1,
        workerId: 'w1',
        resultPtr: `redis://res:${jobId}`,
        createdAt: at,
        updatedAt: at,
        finishedAt: at,
      },
      previousState: 'DISPATCHED',
      at,
      seq: 4n,
    });
    fromBinary(JobEventSchema, toBinary(JobEventSchema, event));
  }
}

await postgresRun('w-', 100); // warm-up
const pg100 = await measure(servers.pg.pid, true, () => postgresRun('a-', 100));
const pg5 = await measure(servers.pg.pid, true, () => postgresRun('b-', 5));
const natsFloor = await measure(servers.nats.pid, false, natsRun);
const redisFloor = await measure(servers.redis.pid, false, redisRun);
const jsFloor = await measure(servers.nats.pid, false, () => jetstreamRun('a-'));
protobufRun(); // warm-up
const protobufFloor = await measure(servers.nats.pid, false, async () => protobufRun());
await nc.close();
redis.disconnect();
await store.close();

// ---- BullMQ's whole job (client, worker, Redis), as e2e-noop runs it.
const bull = await measureBullmqJobs(servers.redis, jobs);
const bullSeconds = bull.cpuSeconds;
const bullMs = perJobMs(bullSeconds);
await servers.stop();

const serversFloor = pg5.server + natsFloor.server + redisFloor.server;
console.log(`per job, ${jobs} jobs, CPU ms of the server process(es):`);
console.log(`  Postgres, 100 jobs per statement: ${perJobMs(pg100.server)} (Node side ${perJobMs(pg100.node)})`);
console.log(`  Postgres,   5 jobs per statement: ${perJobMs(pg5.server)} (Node side ${perJobMs(pg5.node)})`);
console.log(
  `  nats-server, 4 core messages:     ${perJobMs(natsFloor.server)} (Node side ${perJobMs(natsFloor.node)})`,
);
console.log(
  `  nats-server, JetStream submit and result + 2 core: ${perJobMs(jsFloor.server)} (Node side ${perJobMs(jsFloor.node)})`,
);
console.log(
  `  redis-server, 3 commands:         ${perJobMs(redisFloor.server)} (Node side ${perJobMs(redisFloor.node)})`,
);
console.log(
  `  servers' floor (Postgres at 100 / at 5 per statement): ${perJobMs(pg100.server + natsFloor.server + redisFloor.server)} / ${perJobMs(serversFloor)}`,
);
console.log(
  `  servers' floor with JetStream (Postgres at 100 / at 5 per statement): ${perJobMs(pg100.server + jsFloor.server + redisFloor.server)} / ${perJobMs(pg5.server + jsFloor.server + redisFloor.server)}`,
);
console.log(`  Node side's floor (no logic, one process): ${perJobMs(pg5.node + natsFloor.node + redisFloor.node)}`);
console.log(
  `  Node side's floor with JetStream (no logic, one process): ${perJobMs(pg5.node + jsFloor.node + redisFloor.node)}`,
);
console.log(`  protobuf, 4 packets encoded and decoded once (Node): ${perJobMs(protobufFloor.node)}`);
console.log(`BullMQ, the whole job (worker + client + Redis): ${bullMs} CPU ms, ${bull.jobsPerSec.toFixed(0)} jobs/s`);
// The durability model's least cost per job: every server's floor with JetStream and Postgres at its best batching,
// the Node side doing nothing but that I/O and the protobuf of four packets. On a CPU-bound machine throughput goes
// inversely with CPU per job, so BullMQ's cost over this one is the best ratio any design of this shape can reach.
const leastSeconds =
  pg100.server + jsFloor.server + redisFloor.server + pg100.node + jsFloor.node + redisFloor.node + protobufFloor.node;
console.log(
  `Least a JetStream-backed job can cost (no logic, Postgres at 100 per statement): ${perJobMs(leastSeconds)} CPU ms → at best ${(bullSeconds / leastSeconds).toFixed(2)}× BullMQ's jobs/s`,
);
