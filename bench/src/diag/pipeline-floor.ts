/**
 * `node --conditions=@capstan/source --import tsx bench/src/diag/pipeline-floor.ts [jobs]`: the least CPU a job can
 * cost in a pipeline shaped like Capstan's — a client, a scheduler and a worker in three processes, CAP protobuf
 * packets on NATS, pointers in Redis, the job durable in Postgres before it is dispatched — with no logic at all
 * (no policy, routing, fencing, retries, metrics, validation or logging), beside BullMQ's whole job in the same run.
 * A diagnostic for judging e2e-noop's throughput goal, not a benchmark.
 *
 * Per job: the client writes the input (`SET ctx:<id>`) and publishes `BusPacket{JobRequest}`; the scheduler group-
 * commits the job row with its PENDING/SCHEDULED/DISPATCHED events (one statement per batch, at most 100 jobs) and
 * only then publishes the dispatch; the worker reads the input, writes the result (`SET res:<id>`) and publishes
 * `BusPacket{JobResult}`; the scheduler group-commits the SUCCEEDED update and event, then publishes the `JobEvent`
 * the client waits for. Two variants: submits and results on core NATS (at most once: lost when no scheduler is
 * subscribed), and through JetStream work-queue streams with acks both ways, as Capstan's durability model has them.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { JobEventKind, JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { type BusPacket, BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { JobRequestSchema, JobResultSchema, JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { createDatabase } from '@capstan/store';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { ownCpuSeconds } from '../lib/e2e-phases.js';
import { addWorkQueueStream, floorJobRequest, measureBullmqJobs } from '../lib/floor.js';
import { closedLoop, type LoadTarget } from '../lib/load.js';
import { cpuSeconds } from '../lib/processes.js';
import { startServers } from '../lib/stack.js';

type Mode = 'core' | 'jetstream';
const S = { submit: 'pf.submit', dispatch: 'pf.dispatch', result: 'pf.result', events: 'pf.event' } as const;
const STREAMS = { submit: 'PF_SUBMIT', result: 'PF_RESULT' } as const;

const packet = (payload: BusPacket['payload']) =>
  toBinary(BusPacketSchema, create(BusPacketSchema, { senderId: 'floor', protocolVersion: 1, payload }));

/** Calls `onMessage` for every message on `subject` (core) or the stream's durable consumer (JetStream, acked). */
async function intake(
  nc: NatsConnection,
  mode: Mode,
  subject: string,
  stream: string,
  onMessage: (d: Uint8Array) => void,
) {
  if (mode === 'core') {
    nc.subscribe(subject, { queue: subject, callback: (_e, m) => onMessage(m.data) });
    return;
  }
  const messages = await (await jetstream(nc).consumers.get(stream, 'c')).consume({ max_messages: 256, expires: 5000 });
  void (async () => {
    for await (const m of messages) {
      // Acked on receipt: the floor leaves out holding it until the commit (one more timer per message in Capstan).
      m.ack();
      onMessage(m.data);
    }
  })();
}

/** Publishes core, or to the stream awaiting its ack (as the client's submits and the worker's results are). */
function sender(nc: NatsConnection, js: JetStreamClient, mode: Mode) {
  return mode === 'core'
    ? async (subject: string, data: Uint8Array, _id: string) => nc.publish(subject, data)
    : async (subject: string, data: Uint8Array, id: string) => {
        await js.publish(subject, data, { msgID: id });
      };
}

/** A group commit: one statement in flight, the next one takes everything that arrived meanwhile (≤ 100). */
function groupCommit<T>(write: (batch: T[]) => Promise<void>, after: (batch: T[]) => void) {
  const waiting: T[] = [];
  let running = false;
  const pump = async () => {
    running = true;
    while (waiting.length > 0) {
      const batch = waiting.splice(0, 100);
      await write(batch);
      after(batch);
    }
    running = false;
  };
  return (item: T) => {
    waiting.push(item);
    if (!running) void pump();
  };
}

async function runScheduler(mode: Mode, env: Record<string, string>) {
  const nc = await connect({ servers: env['NATS_URL']! });
  const store = await createDatabase({ url: env['DATABASE_URL']!, poolSize: 2 });
  const accept = groupCommit<{ id: string; request: Uint8Array }>(
    async (batch) => {
      await sql`WITH j AS (
          INSERT INTO floor_jobs (job_id, tenant, topic, state, request)
          SELECT id, 'default', 'job.bench', 'DISPATCHED', decode(req, 'hex')
          FROM unnest(${batch.map((b) => b.id)}::text[], ${batch.map((b) => Buffer.from(b.request).toString('hex'))}::text[]) AS v(id, req)
          RETURNING job_id)
        INSERT INTO floor_events (job_id, seq, to_state)
        SELECT job_id, s, (ARRAY['PENDING','SCHEDULED','DISPATCHED'])[s] FROM j, generate_series(1, 3) AS s`.execute(
        store.db,
      );
    },
    (batch) => {
      for (const { request } of batch) {
        const req = fromBinary(JobRequestSchema, request);
        req.env['capstan.attempt'] = '1';
        req.env['capstan.lease_epoch'] = '1';
        nc.publish(S.dispatch, packet({ case: 'jobRequest', value: req }));
      }
    },
  );
  const finish = groupCommit<{ id: string; resultPtr: string }>(
    async (batch) => {
      await sql`WITH u AS (
          UPDATE floor_jobs AS j SET state = 'SUCCEEDED', result_ptr = v.ptr, updated_at = now()
          FROM unnest(${batch.map((b) => b.id)}::text[], ${batch.map((b) => b.resultPtr)}::text[]) AS v(id, ptr)
          WHERE j.job_id = ANY(${batch.map((b) => b.id)}::text[]) AND j.job_id = v.id RETURNING j.job_id)
        INSERT INTO floor_events (job_id, seq, to_state) SELECT job_id, 4, 'SUCCEEDED' FROM u`.execute(store.db);
    },
    (batch) => {
      const at = timestampFromMs(Date.now());
      for (const { id, resultPtr } of batch) {
        const ev = create(JobEventSchema, {
          kind: JobEventKind.TRANSITION,
          job: { jobId: id, tenant: 'default', topic: 'job.bench', state: 'SUCCEEDED', resultPtr, updatedAt: at },
          previousState: 'DISPATCHED',
          at,
          seq: 4n,
        });
        nc.publish(`${S.events}.${id}`, toBinary(JobEventSchema, ev));
      }
    },
  );
  await intake(nc, mode, S.submit, STREAMS.submit, (data) => {
    const p = fromBinary(BusPacketSchema, data);
    if (p.payload.case === 'jobRequest')
      accept({ id: p.payload.value.jobId, request: toBinary(JobRequestSchema, p.payload.value) });
  });
  await intake(nc, mode, S.result, STREAMS.result, (data) => {
    const p = fromBinary(BusPacketSchema, data);
    if (p.payload.case === 'jobResult') finish({ id: p.payload.value.jobId, resultPtr: p.payload.value.resultPtr });
  });
  await nc.flush();
}

async function runWorker(mode: Mode, env: Record<string, string>) {
  const nc = await connect({ servers: env['NATS_URL']! });
  const send = sender(nc, jetstream(nc), mode);
  const redis = new Redis(env['REDIS_URL']!, { enableAutoPipelining: true });
  nc.subscribe(S.dispatch, {
    queue: S.dispatch,
    callback: (_e, m) => {
      void (async () => {
        const p = fromBinary(BusPacketSchema, m.data);
        if (p.payload.case !== 'jobRequest') return;
        const id = p.payload.value.jobId;
        const input = await redis.get(p.payload.value.contextPtr.slice('redis://'.length));
        await redis.set(`res:${id}`, input ?? '{}', 'PX', 600_000);
        const result = create(JobResultSchema, {
          jobId: id,
          status: JobStatus.SUCCEEDED,
          resultPtr: `redis://res:${id}`,
          workerId: 'w1',
        });
        await send(S.result, packet({ case: 'jobResult', value: result }), `r-${id}`);
      })();
    },
  });
  await nc.flush();
}

const role = process.argv[2];
if (role === 'scheduler' || role === 'worker') {
  const mode = process.argv[3] as Mode;
  const env = JSON.parse(process.argv[4]!) as Record<string, string>;
  await (role === 'scheduler' ? runScheduler(mode, env) : runWorker(mode, env));
  process.send?.('ready');
} else {
  await main();
}

async function main() {
  const jobs = Number(process.argv[2] ?? 20000);
  const servers = await startServers();
  const store = await createDatabase({ url: servers.env['DATABASE_URL']! });
  // Capstan's `jobs` has more columns and indexes; the floor keeps a primary key only.
  await sql`CREATE TABLE floor_jobs (job_id text PRIMARY KEY, tenant text NOT NULL, topic text NOT NULL,
    state text NOT NULL, request bytea NOT NULL, result_ptr text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`.execute(store.db);
  await sql`CREATE TABLE floor_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job_id text NOT NULL,
    seq integer NOT NULL, to_state text NOT NULL, at timestamptz NOT NULL DEFAULT now())`.execute(store.db);
  const nc = await connect({ servers: servers.nats.url });
  const jsm = await jetstreamManager(nc);
  const redis = new Redis(servers.redis.url, { enableAutoPipelining: true });
  const perJob = (seconds: number) => (1000 * seconds) / jobs;

  async function variant(mode: Mode) {
    // Streams only for the JetStream variant: a stream captures core publishes to its subjects too.
    if (mode === 'jetstream') {
      await addWorkQueueStream(jsm, STREAMS.submit, S.submit);
      await addWorkQueueStream(jsm, STREAMS.result, S.result);
    }
    const spawn = async (r: string) => {
      const cp = fork(new URL(import.meta.url), [r, mode, JSON.stringify(servers.env)], {
        execArgv: ['--conditions=@capstan/source', '--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      await new Promise<void>((resolve, reject) => {
        cp.once('message', () => resolve());
        cp.once('exit', (code) => reject(new Error(`${r} exited with ${code}`)));
      });
      return cp;
    };
    const [scheduler, worker] = [await spawn('scheduler'), await spawn('worker')];
    const send = sender(nc, jetstream(nc), mode);
    let prefix = `${mode}-w-`;
    let done: ((i: number) => void) | undefined;
    const events = nc.subscribe(`${S.events}.>`, {
      callback: (_e, m) => {
        const id = fromBinary(JobEventSchema, m.data).job?.jobId ?? '';
        if (id.startsWith(prefix)) done?.(Number(id.slice(prefix.length)));
      },
    });
    const input = JSON.stringify({ i: 1 });
    const target: LoadTarget = {
      submit: async (i) => {
        const jobId = `${prefix}${i}`;
        await redis.set(`ctx:${jobId}`, input, 'PX', 600_000);
        await send(S.submit, packet({ case: 'jobRequest', value: floorJobRequest(jobId) }), jobId);
      },
      onDone: (cb) => {
        done = cb;
      },
    };
    await closedLoop(target, 2000, 500); // warm-up
    prefix = `${mode}-m-`;
    const procs: [number, boolean][] = [
      [scheduler.pid!, false],
      [worker.pid!, false],
      [servers.nats.pid, false],
      [servers.redis.pid, false],
      [servers.pg.pid, true],
    ];
    const cpu = () => [...procs.map(([pid, tree]) => cpuSeconds(pid, tree)), ownCpuSeconds()];
    const c0 = cpu();
    const run = await closedLoop(target, jobs, 500);
    const c1 = cpu();
    events.unsubscribe(); // the next variant's client must not decode this one's events too
    for (const cp of [scheduler, worker] as ChildProcess[]) cp.kill();
    const [sch, wrk, nats, rds, pg, client] = c1.map((v, i) => perJob(v - c0[i]!));
    return {
      jobsPerSec: run.jobsPerSec,
      lost: run.lost,
      sch,
      wrk,
      nats,
      rds,
      pg,
      client,
      total: sch! + wrk! + nats! + rds! + pg! + client!,
    };
  }

  const core = await variant('core');
  const js = await variant('jetstream');
  await nc.close();
  redis.disconnect();
  await store.close();

  const bull = await measureBullmqJobs(servers.redis, jobs);
  const bullMs = perJob(bull.cpuSeconds);
  await servers.stop();

  const f = (v: number | undefined) => v!.toFixed(3);
  console.log(`per job, ${jobs} jobs, CPU ms (three processes, no logic):`);
  for (const [name, r] of [
    ['core NATS', core],
    ['JetStream', js],
  ] as const)
    console.log(
      `  ${name.padEnd(10)} ${f(r.total)} — client ${f(r.client)}, scheduler ${f(r.sch)}, worker ${f(r.wrk)}, nats ${f(r.nats)}, redis ${f(r.rds)}, postgres ${f(r.pg)}; ${r.jobsPerSec.toFixed(0)} jobs/s (lost ${r.lost}) → at best ${(bullMs / r.total).toFixed(2)}× BullMQ's jobs/s`,
    );
  console.log(
    `BullMQ, the whole job (worker + client + Redis): ${f(bullMs)} CPU ms, ${bull.jobsPerSec.toFixed(0)} jobs/s`,
  );
}
