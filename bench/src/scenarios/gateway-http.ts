import { createDatabase, migrateToLatest } from '@capstan/store';
import { freePort, startNats, startPostgres, startRedis } from '@capstan/testkit';
import autocannon from 'autocannon';
import { cpuSeconds, spawnProc, stopProc } from '../lib/processes.js';
import { round } from '../lib/stats.js';

/** Options of the gateway-http scenario. */
export interface GatewayHttpOptions {
  /** Seconds each measured run lasts (after a warm-up of a third of it). */
  durationSec: number;
  /** Concurrent HTTP/1.1 connections (autocannon), the same for every target. */
  connections: number;
  log: (line: string) => void;
}

/** What one autocannon run measured. */
interface Figures {
  reqPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  requests: number;
  non2xx: number;
  errors: number;
  /** CPU-seconds of the server process per 1,000 requests. */
  serverCpuPer1000: number;
}

async function measure(
  title: string,
  options: autocannon.Options,
  serverPid: number,
  durationSec: number,
  log: (line: string) => void,
): Promise<Figures> {
  await autocannon({ ...options, duration: Math.max(1, Math.round(durationSec / 3)) }); // warm-up (JIT, pools)
  const cpu0 = cpuSeconds(serverPid);
  const r = await autocannon({ ...options, duration: durationSec });
  const cpu1 = cpuSeconds(serverPid);
  const requests = r.requests.total;
  const figures: Figures = {
    reqPerSec: round(r.requests.average, 0),
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    requests,
    non2xx: r.non2xx,
    errors: r.errors,
    serverCpuPer1000: requests > 0 ? round(((cpu1 - cpu0) / requests) * 1000, 3) : Number.NaN,
  };
  log(
    `${title}: ${figures.reqPerSec} req/s, p50 ${figures.latencyMs.p50} ms, p99 ${figures.latencyMs.p99} ms` +
      (figures.non2xx + figures.errors > 0 ? ` (non-2xx ${figures.non2xx}, errors ${figures.errors})` : ''),
  );
  return figures;
}

async function json(url: string, init: RequestInit & { body?: string } = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${url} → ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/**
 * The gateway's HTTP cost. Capstan: `GET /v1/jobs/:id` (API-key auth, Redis rate limit, one job row) and
 * `POST /v1/jobs` (auth, rate limit, input stored at redis://ctx, JetStream-acked submit, audit row), on a gateway in
 * its own process — first with a scheduler and an SDK worker (their own processes) running every submitted job, then
 * with both stopped (accept only: the gateway's own ceiling for submits). Ceiling: a bare fastify hello-world in its
 * own process, same machine, same run, same autocannon settings.
 */
export async function gatewayHttp(opts: GatewayHttpOptions) {
  const [nats, redis, pg] = await Promise.all([startNats(), startRedis(), startPostgres({ maxConnections: 100 })]);
  const procs: Awaited<ReturnType<typeof spawnProc>>[] = [];
  try {
    const store = await createDatabase({ url: pg.url });
    await migrateToLatest(store.db);
    await store.close();
    const env = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      DATABASE_URL: pg.url,
      TOPIC: 'job.bench',
      CONCURRENCY: '50',
    };

    opts.log('starting the fastify hello-world, scheduler, worker and gateway processes');
    const helloPort = await freePort();
    const hello = await spawnProc('hello-fastify.ts', { PORT: String(helloPort) });
    procs.push(hello);
    const scheduler = await spawnProc('scheduler.ts', env);
    procs.push(scheduler);
    const worker = await spawnProc('sdk-worker.ts', env);
    procs.push(worker);
    const gatewayPort = await freePort();
    const gateway = await spawnProc('gateway.ts', { ...env, CAPSTAN_GATEWAY_PORT: String(gatewayPort) });
    procs.push(gateway);
    const base = `http://127.0.0.1:${gatewayPort}`;

    const registered = await json(`${base}/v1/auth/register`, {
      method: 'POST',
      body: JSON.stringify({
        organization_name: 'Bench',
        user_name: 'Bench',
        email: 'bench@example.test',
        password: 'correct horse battery',
      }),
    });
    const created = await json(`${base}/v1/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${registered['token'] as string}` },
      body: JSON.stringify({ name: 'bench', role: 'developer' }),
    });
    const apiKey = (created['api_key'] as { key: string }).key;
    const headers = { 'x-api-key': apiKey, 'content-type': 'application/json' };
    const submitBody = JSON.stringify({ topic: 'job.bench', input: { n: 1 } });
    const first = await json(`${base}/v1/jobs`, { method: 'POST', headers, body: submitBody });
    const jobId = first['job_id'] as string;
    for (let i = 0; i < 100; i++) {
      const job = await json(`${base}/v1/jobs/${jobId}`, { headers });
      if (job['state'] === 'SUCCEEDED') break;
      await new Promise((r) => setTimeout(r, 50));
    }

    const common = { connections: opts.connections, pipelining: 1 };
    const ceiling = await measure(
      'fastify hello-world (ceiling)',
      { ...common, url: `http://127.0.0.1:${helloPort}/` },
      hello.pid!,
      opts.durationSec,
      opts.log,
    );
    const getJob = await measure(
      'GET /v1/jobs/:id',
      { ...common, url: `${base}/v1/jobs/${jobId}`, headers },
      gateway.pid!,
      opts.durationSec,
      opts.log,
    );
    const postJob = await measure(
      'POST /v1/jobs',
      { ...common, url: `${base}/v1/jobs`, method: 'POST', headers, body: submitBody },
      gateway.pid!,
      opts.durationSec,
      opts.log,
    );
    // The gateway alone: with the scheduler and worker stopped, submits only pile up in the JetStream stream.
    await stopProc(worker);
    await stopProc(scheduler);
    const acceptOnly = await measure(
      'POST /v1/jobs (accept only: scheduler and worker stopped)',
      { ...common, url: `${base}/v1/jobs`, method: 'POST', headers, body: submitBody },
      gateway.pid!,
      opts.durationSec,
      opts.log,
    );
    const ratio = {
      getJobReqPerSec: round(getJob.reqPerSec / ceiling.reqPerSec, 3),
      postJobReqPerSec: round(postJob.reqPerSec / ceiling.reqPerSec, 3),
      postJobAcceptOnlyReqPerSec: round(acceptOnly.reqPerSec / ceiling.reqPerSec, 3),
      getJobP99: round(getJob.latencyMs.p99 / Math.max(ceiling.latencyMs.p99, 1), 2),
      postJobP99: round(postJob.latencyMs.p99 / Math.max(ceiling.latencyMs.p99, 1), 2),
      postJobAcceptOnlyP99: round(acceptOnly.latencyMs.p99 / Math.max(ceiling.latencyMs.p99, 1), 2),
    };
    opts.log(
      `ratio to the ceiling (req/s): GET ${ratio.getJobReqPerSec}, POST ${ratio.postJobReqPerSec}, POST accept-only ${ratio.postJobAcceptOnlyReqPerSec}`,
    );
    return {
      scenario: 'gateway-http',
      peer: 'fastify-hello-world',
      params: { durationSec: opts.durationSec, connections: opts.connections, pipelining: 1 },
      ceiling,
      capstan: { getJob, postJob, postJobAcceptOnly: acceptOnly },
      ratio,
      goals: {
        noErrors: [getJob, postJob, acceptOnly].every((f) => f.non2xx + f.errors === 0),
      },
    };
  } finally {
    // stopProc is a no-op for processes already stopped.
    for (const proc of procs.reverse()) await stopProc(proc);
    await Promise.all([nats.stop(), redis.stop(), pg.stop()]);
  }
}
