import { Writable } from 'node:stream';
import type { Bus } from '@capstan/bus';
import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createResultPublisher } from './result-publisher.js';
import { until } from './testing/fake-scheduler.js';
import { resultPacket } from './worker-packets.js';

/**
 * A bus whose stream never acknowledges, counting attempts per message id: `hang:` ids wait for an ack that never
 * comes from their third attempt on (an attempt under way), the others fail at once (a retry loop in backoff).
 */
function failingBus() {
  const attempts = new Map<string, number>();
  const bus = {
    streamFor: async () => ({ name: 'CAPSTAN_RESULTS' }),
    publishDurable: (_subject: string, _packet: unknown, { msgId }: { msgId: string }) => {
      const n = (attempts.get(msgId) ?? 0) + 1;
      attempts.set(msgId, n);
      if (msgId.startsWith('hang:') && n >= 3) return new Promise(() => {});
      return Promise.reject(new Error('connection closed'));
    },
    publish: () => {
      throw new Error('connection closed');
    },
  } as unknown as Bus;
  return { bus, attempts };
}

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const result = (jobId: string) =>
  resultPacket({ jobId, status: JobStatus.SUCCEEDED, workerId: 'w1', executionMs: 1 }, 'a'.repeat(32));

describe('createResultPublisher', () => {
  it('stop() ends pending retries at once, names the results given up, and publishes nothing afterwards', async () => {
    const { bus, attempts } = failingBus();
    const { logger, lines } = capturingLogger();
    const publisher = createResultPublisher(bus, logger);
    publisher.publish(result('j1'), undefined, 'hang:j1');
    publisher.publish(result('j2'), undefined, 'fail:j2');
    await until(() => (attempts.get('hang:j1') ?? 0) >= 3 && (attempts.get('fail:j2') ?? 0) >= 3, 5000, 'attempts');
    expect(publisher.pending()).toBe(2);

    publisher.stop();
    const stoppedAt = Date.now();
    await publisher.settle(5000);
    expect(Date.now() - stoppedAt).toBeLessThan(100);
    expect(publisher.pending()).toBe(0);
    expect(lines.find((l) => Array.isArray(l['job_ids']))).toMatchObject({ job_ids: ['j1', 'j2'] });

    publisher.publish(result('j3'), undefined, 'fail:j3');
    expect(publisher.pending()).toBe(0);
    const before = [...attempts.entries()];
    // Longer than the longest backoff delay (2 s): a retry loop still running would have tried again.
    await new Promise((r) => setTimeout(r, 2100));
    expect([...attempts.entries()]).toEqual(before);
    // Given up by stop(), not reported again as a failed publish.
    expect(lines.filter((l) => String(l['msg']).startsWith('could not publish'))).toHaveLength(0);
  });
});
