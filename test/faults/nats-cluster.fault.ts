/**
 * Fault 11: a 3-node NATS cluster with JetStream replicas 3 (CAPSTAN_STREAM_REPLICAS=3); one scheduler replica and
 * two SDK worker processes get every node's URL. Under load, SIGKILL the node leading the submit stream, start it
 * again 8 s later on its port and store. Expected: a new leader is elected, every client carries on through the
 * other nodes, no acknowledged job is lost (an ack means two of three nodes hold the submit), none runs twice; the
 * test reports how long the election, the submit pause and the affected jobs took.
 */
import { SCHEDULER_QUEUE_GROUP, Streams } from '@capstan/protocol';
import type { NatsHandle } from '@capstan/testkit';
import { describe, expect, it } from 'vitest';
import { reportFault } from './support/fault-report.js';
import { sleep, useFaultStack } from './support/fault-test-hooks.js';
import { connectionsOf, type PlacementInfo, placementOf } from './support/jetstream-cluster-info.js';
import { openAt, recoveryAfter } from './support/recovery-time.js';

const RATE = 100;
const REPLICAS = 3;
/** How long the killed node stays down. */
const DOWN_MS = 8000;
/** An R3 stream elects a new leader within a few seconds (raft election timeouts); generous for a 2-core machine. */
const ELECTION_BOUND_MS = 10_000;

const stack = useFaultStack(
  { name: 'nats-cluster', natsClusterSize: 3, schedulerEnv: { CAPSTAN_STREAM_REPLICAS: String(REPLICAS) } },
  async (s) => {
    await Promise.all([
      s.startScheduler('scheduler-a'),
      s.startWorker('worker-1', { concurrency: 50 }),
      s.startWorker('worker-2', { concurrency: 50 }),
    ]);
  },
);

/** Polls the placement of `stream` until `done` holds, or `timeoutMs` passes; resolves with it and when it held. */
async function waitForPlacement(
  what: string,
  read: () => Promise<PlacementInfo>,
  done: (p: PlacementInfo) => boolean,
  timeoutMs: number,
): Promise<{ placement: PlacementInfo | undefined; at: number | undefined; lastError: string }> {
  const end = Date.now() + timeoutMs;
  let lastError = '';
  let placement: PlacementInfo | undefined;
  while (Date.now() < end) {
    try {
      placement = await read();
      if (done(placement)) return { placement, at: Date.now(), lastError };
    } catch (err) {
      lastError = `${what}: ${(err as Error).message}`;
    }
    await sleep(100);
  }
  return { placement, at: undefined, lastError };
}

describe('NATS cluster', () => {
  it('fault 11: 3-node NATS cluster, JetStream R3: SIGKILL the submit stream leader under load → a new leader, no acknowledged job lost or run twice', async ({
    task,
  }) => {
    const s = stack();
    const cluster = s.natsCluster!;
    const nc = s.bus.nc;
    const since = Date.now();
    const placements = Object.fromEntries(
      await Promise.all(
        [Streams.submit, Streams.result, Streams.deadLetter].map(async (n) => [n, await placementOf(nc, n)] as const),
      ),
    );
    const load = s.startLoad({ ratePerSec: RATE });
    await sleep(4000);

    const before = await placementOf(nc, Streams.submit);
    const consumerBefore = await placementOf(nc, Streams.submit, SCHEDULER_QUEUE_GROUP);
    const resultsBefore = await placementOf(nc, Streams.result);
    const resultConsumerBefore = await placementOf(nc, Streams.result, SCHEDULER_QUEUE_GROUP);
    const victim: NatsHandle | undefined = cluster.nodes.find((n) => n.serverName === before.leader);
    expect(victim, `the submit stream leader ${before.leader} is one of the cluster's nodes`).toBeDefined();
    const carried = await connectionsOf(victim!).catch(() => [] as string[]);
    const killedAt = Date.now();
    process.kill(victim!.pid, 'SIGKILL');
    const open = openAt(s, killedAt);

    const elected = await waitForPlacement(
      'stream info',
      () => placementOf(nc, Streams.submit, undefined, 1000),
      (p) => p.leader !== '' && p.leader !== victim!.serverName,
      ELECTION_BOUND_MS + 5000,
    );
    const electionMs = elected.at === undefined ? null : elected.at - killedAt;
    const consumerAfter = await waitForPlacement(
      'consumer info',
      () => placementOf(nc, Streams.submit, SCHEDULER_QUEUE_GROUP, 1000),
      (p) => p.leader !== '' && p.leader !== victim!.serverName,
      ELECTION_BOUND_MS,
    );
    await sleep(Math.max(0, killedAt + DOWN_MS - Date.now()));
    const restartAt = Date.now();
    await victim!.restart();
    const caughtUp = await waitForPlacement(
      'stream info after the restart',
      () => placementOf(nc, Streams.submit, undefined, 1000),
      (p) => p.replicas.length === REPLICAS - 1 && p.replicas.every((r) => r.current),
      20_000,
    );
    await sleep(3000);
    await load.stop();
    const verdict = await s.check(90_000, { since, maxExecutionsPerJob: 1 });
    const recovery = await recoveryAfter(s, open, killedAt);

    // Submits: those that failed around the kill (never acknowledged, so not promised), and the longest pause
    // between two acknowledgements — how long admission stalled while the stream had no leader.
    const submits = s.recorder.history.submits.filter((r) => r.submittedAt >= since);
    const failed = submits.filter((r) => r.ackedAt === undefined);
    const acks = submits
      .map((r) => r.ackedAt)
      .filter((t): t is number => t !== undefined)
      .sort((a, b) => a - b);
    let ackGapMs = 0;
    for (let i = 1; i < acks.length; i++) {
      if (acks[i]! >= killedAt - 1000 && acks[i - 1]! <= restartAt)
        ackGapMs = Math.max(ackGapMs, acks[i]! - acks[i - 1]!);
    }
    const firstAckAfter = acks.find((t) => t > killedAt);
    // Results: the longest pause in committed worker results around the kill — how long the scheduler's result
    // consumer stood still (results wait in the R3 stream meanwhile; jobs re-dispatched then ran twice).
    const resultCommits = (
      await s.store.db
        .selectFrom('job_events')
        .select('at')
        .where('reason', '=', 'worker_succeeded')
        .where('at', '>=', new Date(killedAt - 1000))
        .orderBy('at')
        .execute()
    ).map((r) => r.at.getTime());
    let resultGapMs = 0;
    for (let i = 1; i < resultCommits.length; i++)
      resultGapMs = Math.max(resultGapMs, resultCommits[i]! - resultCommits[i - 1]!);

    reportFault(task, {
      fault: '11 3-node NATS cluster, kill the stream leader',
      injected: [
        `streams ${Object.entries(placements)
          .map(([n, p]) => `${n} R${p.numReplicas} led by ${p.leader}`)
          .join(', ')}`,
        `at the kill: ${Streams.submit} led by ${before.leader} (its scheduler consumer by ${consumerBefore.leader}), ${Streams.result} by ${resultsBefore.leader} (its scheduler consumer by ${resultConsumerBefore.leader})`,
        `SIGKILL ${victim!.serverName} (leader of ${Streams.submit}; carrying connections: ${carried.join(', ') || 'none'}) under ${RATE} jobs/s; restarted ${restartAt - killedAt} ms later`,
      ],
      verified: [
        electionMs === null
          ? `NO new ${Streams.submit} leader within ${ELECTION_BOUND_MS + 5000} ms (${elected.lastError})`
          : `new ${Streams.submit} leader ${elected.placement!.leader} ${electionMs} ms after the kill; consumer leader ${consumerAfter.placement?.leader || 'none'}`,
        `submits: first ack ${firstAckAfter === undefined ? 'never' : `${firstAckAfter - killedAt} ms`} after the kill, longest pause between acks ${ackGapMs} ms, ${failed.length} submits not acknowledged${failed[0] ? ` (e.g. "${failed[0].error}")` : ''}`,
        `worker results: longest pause between committed results around the kill ${resultGapMs} ms; ${verdict.stats.staleRefused} results refused as stale, ${verdict.stats.reexecuted} jobs executed by more than one attempt`,
        caughtUp.at === undefined
          ? `the restarted node did NOT catch up within 20 s (${JSON.stringify(caughtUp.placement?.replicas)})`
          : `the restarted node is a current replica again ${caughtUp.at - restartAt} ms after its restart`,
        recovery.maxMs === null
          ? `of ${open.length} jobs open at the kill, NOT finished: ${recovery.unfinished.slice(0, 20).join(', ')}`
          : `the ${open.length} jobs open at the kill all finished within ${recovery.maxMs} ms of it`,
      ],
      verdict,
      maxRecoveryMs: recovery.maxMs,
    });
    for (const p of Object.values(placements)) expect(p.numReplicas).toBe(REPLICAS);
    expect(electionMs).not.toBeNull();
    expect(electionMs!).toBeLessThanOrEqual(ELECTION_BOUND_MS);
    expect(caughtUp.at).toBeDefined();
    expect(verdict.violations).toEqual([]);
    expect(recovery.unfinished).toEqual([]);
    expect(verdict.jobs).toBeGreaterThan(RATE * 5);
  });
});
