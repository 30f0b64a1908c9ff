/**
 * Fault 10, poison input, under a steady background load on one scheduler replica, two SDK worker processes and a
 * gateway process:
 * - 10a: garbage bytes and malformed packets (an empty message, JSON, truncated protobuf, the wrong payload kind, no
 *   payload, protocol_version 999, an empty or oversized id, a JobRequest without topic...) on every subject the
 *   scheduler consumes, and a payload above NATS max_payload → every malformed packet is counted by the scheduler
 *   and dead-lettered on `capstan.dlq.<subject>`, the oversized publish fails at the client with a clear error, no
 *   process dies, the load's jobs all complete once;
 * - 10b: a 100 MiB body to the gateway's `POST /v1/jobs` (announced in Content-Length, and chunked) → 413 with the
 *   gateway's code 1002, quickly, without the gateway's memory growing by the body; REST submits keep working.
 */
import { create } from '@bufbuild/protobuf';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { Subjects } from '@capstan/protocol';
import { describe, expect, it } from 'vitest';
import { rssBytes } from './support/capstan-process.js';
import { watchDeadLetters } from './support/dead-letter-watch.js';
import { reportFault } from './support/fault-report.js';
import { FAULT_TOPIC } from './support/fault-stack.js';
import { sleep, useFaultStack } from './support/fault-test-hooks.js';
import { type GatewayProcess, startGatewayProcess } from './support/gateway-process.js';
import { sendOversizedBody } from './support/oversized-request.js';
import { CONSUMED_SUBJECTS, garbageFlood, type PoisonPacket, poisonPacketsFor } from './support/poison-packets.js';
import { readMetrics, sumMetric } from './support/prometheus-metrics.js';
import type { SchedulerProcess } from './support/scheduler-process.js';

const MIB = 1024 * 1024;
/** Rounds of the poison catalogue, half a second apart, while the load runs. */
const ROUNDS = 3;
/** Random garbage packets per subject per round. */
const FLOOD = 50;
/** The gateway must answer an oversized body this fast: it refuses it, it does not read it. */
const ANSWER_BOUND_MS = 3000;
/**
 * The gateway may not grow by more than this while refused 100 MiB bodies come in: below one body (nothing is
 * buffered: holding one would grow it by 100 MiB or more), with room for the chunks it reads and throws away so the
 * client can read the 413 (garbage, freed when V8 next collects: the peak moves with GC timing — 33–34 MiB in most
 * runs, 55 MiB once).
 */
const RSS_GROWTH_BOUND = 80 * MIB;

let scheduler: SchedulerProcess;
let gateway: GatewayProcess;
const stack = useFaultStack({ name: 'poison-input' }, async (s) => {
  [scheduler, , , gateway] = await Promise.all([
    s.startScheduler('scheduler-a'),
    s.startWorker('worker-1'),
    s.startWorker('worker-2'),
    startGatewayProcess({
      name: 'gateway-a',
      natsUrl: s.nats.url,
      redisUrl: s.redisUrl,
      databaseUrl: s.databaseUrl,
      runDir: s.runDir,
    }),
  ]);
  s.track(gateway);
});

/** The `capstan_bus_*` counter label of a subject (the bus keeps its first three tokens). */
const label = (subject: string) => subject.split('.').slice(0, 3).join('.');

const countBy = (values: readonly string[]) => {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ×${n}`).join(', ');
};

/** Publishes `fn`'s error message, or says it did not throw. */
async function failureOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

describe('poison input', { timeout: 60_000 }, () => {
  it('fault 10a: garbage and malformed packets on every consumed subject, a payload above max_payload → dead-lettered and counted; no process dies, every job completes', async ({
    task,
  }) => {
    const s = stack();
    const since = Date.now();
    const letters = watchDeadLetters(s.bus.nc);
    const before = await readMetrics(scheduler.metricsUrl);
    const load = s.startLoad({ ratePerSec: 40 });
    await sleep(1000);

    // Poison: the catalogue (and a flood of garbage) on every consumed subject, in rounds while jobs flow.
    const poisonStart = Date.now();
    const sent: PoisonPacket[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const subject of CONSUMED_SUBJECTS) {
        for (const p of [...poisonPacketsFor(subject), ...garbageFlood(subject, FLOOD)]) {
          s.bus.nc.publish(p.subject, p.data);
          sent.push(p);
        }
      }
      await s.bus.nc.flush();
      await sleep(500);
    }
    // Above max_payload: the client must refuse to send it, loudly, and stay usable.
    const maxPayload = s.bus.nc.info?.max_payload ?? MIB;
    const rawError = await failureOf(() => s.bus.nc.publish(Subjects.jobSubmit, new Uint8Array(maxPayload + 1)));
    const huge = s.bus.packet({
      case: 'jobRequest',
      value: create(JobRequestSchema, {
        jobId: `poison-huge-${Date.now()}`,
        topic: FAULT_TOPIC,
        tenantId: 'faults',
        labels: { blob: 'x'.repeat(maxPayload + 1024) },
      }),
    });
    const durableError = await failureOf(() =>
      s.bus.publishDurable(Subjects.jobSubmit, huge, { msgId: huge.payload.value.jobId }),
    );
    const poisonEnd = Date.now();
    await s.bus.nc.flush();
    const afterHuge = await s.submitter.submit({ input: { sleepMs: 1 } });
    await sleep(1500);
    await load.stop();

    // Every poison packet dead-lettered, by someone, on capstan.dlq.<its subject>.
    const deadline = Date.now() + 10_000;
    const missing = () => sent.filter((p) => letters.lettersFor(p.subject, p.data).length === 0);
    while (missing().length > 0 && Date.now() < deadline) await sleep(100);
    const notDeadLettered = missing();
    const verdict = await s.check(20_000, { since, maxExecutionsPerJob: 1 });
    const after = await readMetrics(scheduler.metricsUrl);
    letters.stop();

    const perSubject = CONSUMED_SUBJECTS.map((subject) => {
      const mine = sent.filter((p) => p.subject === subject);
      const delta = (name: string) =>
        sumMetric(after, name, { subject: label(subject) }) - sumMetric(before, name, { subject: label(subject) });
      const codes = mine.flatMap((p) => letters.lettersFor(subject, p.data).map((l) => l.code));
      return {
        subject,
        sent: mine.length,
        deadLettered: mine.length - notDeadLettered.filter((p) => p.subject === subject).length,
        schedulerRejected: delta('capstan_bus_packets_rejected_total'),
        schedulerDeadLettered: delta('capstan_bus_dead_letters_total'),
        codes: countBy(codes),
      };
    });
    const duringPoison = s.recorder.history.submits.filter(
      (r) => r.ackedAt !== undefined && r.submittedAt >= poisonStart && r.submittedAt <= poisonEnd,
    );

    reportFault(task, {
      fault: '10a poison packets on every consumed subject, payload above max_payload',
      injected: [
        `${sent.length} poison packets in ${ROUNDS} rounds on ${CONSUMED_SUBJECTS.join(', ')} under 40 jobs/s: ${countBy(sent.map((p) => p.kind))}`,
        `a ${maxPayload + 1}-byte core publish and a ${maxPayload + 1024}-byte-label JobRequest via publishDurable on ${Subjects.jobSubmit} (max_payload ${maxPayload})`,
      ],
      verified: [
        ...perSubject.map(
          (r) =>
            `${r.subject}: ${r.deadLettered}/${r.sent} dead-lettered on capstan.dlq.${r.subject} (codes: ${r.codes}); scheduler counted ${r.schedulerRejected} rejected, ${r.schedulerDeadLettered} dead letters`,
        ),
        ...notDeadLettered
          .slice(0, 10)
          .map(
            (p) => `NOT dead-lettered: ${p.kind} on ${p.subject} (${Buffer.from(p.data).toString('hex').slice(0, 80)})`,
          ),
        `max_payload: core publish ${rawError ? `failed: ${rawError}` : 'did NOT fail'}; publishDurable ${durableError ? `failed: ${durableError}` : 'did NOT fail'}; a submit right after was ${afterHuge.ackedAt !== undefined ? 'acknowledged' : `refused: ${afterHuge.error}`}`,
        `${duringPoison.length} jobs acknowledged while the poison flowed`,
      ],
      verdict,
    });
    expect(notDeadLettered.map((p) => `${p.subject}: ${p.kind}`)).toEqual([]);
    for (const r of perSubject) {
      expect(r.schedulerDeadLettered, `scheduler dead letters on ${r.subject}`).toBeGreaterThanOrEqual(r.sent);
      expect(r.schedulerRejected, `scheduler rejections on ${r.subject}`).toBeGreaterThanOrEqual(r.sent);
    }
    expect(rawError).toMatch(/max_payload/);
    expect(durableError).toMatch(/max_payload/);
    expect(afterHuge.ackedAt).toBeDefined();
    expect(duringPoison.length).toBeGreaterThan(40);
    expect(verdict.violations).toEqual([]);
  });

  it('fault 10b: a 100 MiB body to POST /v1/jobs → 413 (code 1002) at once, the gateway does not grow by it; REST submits keep working', async ({
    task,
  }) => {
    const s = stack();
    const since = Date.now();
    const token = await gateway.registerOwner(`poison-${Date.now()}@faults.example`);
    const auth = { authorization: `Bearer ${token}` };
    s.startLoad({ ratePerSec: 40 });
    await sleep(1000);

    const rssBefore = await rssBytes(gateway.pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      void rssBytes(gateway.pid).then((b) => {
        rssPeak = Math.max(rssPeak, b);
      });
    }, 25);
    const url = `${gateway.url}/v1/jobs`;
    const announced = await sendOversizedBody({ url, bytes: 100 * MIB, headers: auth });
    const chunked = await sendOversizedBody({ url, bytes: 100 * MIB, headers: auth, contentLength: false });
    await sleep(500);
    clearInterval(sampler);
    const rssAfter = await rssBytes(gateway.pid);

    // A normal REST submit still goes through and runs.
    const ok = await fetch(url, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ topic: FAULT_TOPIC, input: { sleepMs: 1 } }),
    });
    const okBody = (await ok.json()) as { job_id?: string };
    let restState = '';
    const until = Date.now() + 10_000;
    while (okBody.job_id && restState !== 'SUCCEEDED' && Date.now() < until) {
      const row = await s.store.db
        .selectFrom('jobs')
        .select('state')
        .where('job_id', '=', okBody.job_id)
        .executeTakeFirst();
      restState = row?.state ?? '';
      if (restState !== 'SUCCEEDED') await sleep(100);
    }
    const verdict = await s.check(20_000, { since, maxExecutionsPerJob: 1 });

    const codeOf = (body: string) => {
      try {
        return (JSON.parse(body) as { error?: { code?: number } }).error?.code;
      } catch {
        return undefined;
      }
    };
    const summary = (a: typeof announced) =>
      `${a.status}${a.error ? ` (${a.error})` : ''} code ${codeOf(a.body)} in ${a.elapsedMs} ms, after ${Math.round(a.bytesSent / MIB)} MiB were written`;
    reportFault(task, {
      fault: '10b 100 MiB body to POST /v1/jobs',
      injected: [
        `POST /v1/jobs with a 100 MiB body announced in Content-Length, then a 100 MiB chunked body, under 40 jobs/s (body limit 1 MiB)`,
      ],
      verified: [
        `Content-Length: ${summary(announced)}`,
        `chunked: ${summary(chunked)}`,
        `gateway RSS ${Math.round(rssBefore / MIB)} MiB before, peak ${Math.round(rssPeak / MIB)} MiB, ${Math.round(rssAfter / MIB)} MiB after`,
        `a normal POST /v1/jobs then answered ${ok.status}; its job ${okBody.job_id} ended ${restState || 'nowhere'}`,
      ],
      verdict,
    });
    for (const answer of [announced, chunked]) {
      expect(answer.status).toBe(413);
      expect(codeOf(answer.body)).toBe(1002);
      expect(answer.elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
    }
    expect(rssPeak - rssBefore).toBeLessThan(RSS_GROWTH_BOUND);
    expect(gateway.alive()).toBe(true);
    expect(ok.status).toBe(202);
    expect(restState).toBe('SUCCEEDED');
    expect(verdict.violations).toEqual([]);
  });
});
