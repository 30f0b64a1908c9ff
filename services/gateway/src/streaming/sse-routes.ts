import type { OutgoingHttpHeaders } from 'node:http';
import { isTerminal, type JobState } from '@capstan/jobs';
import { z } from 'zod';
import type { AuthContext } from '../auth/auth-context.js';
import { GatewayError } from '../errors/gateway-error.js';
import { MAX_PG_INTEGER } from '../http/pg-ranges.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { requireJob } from '../jobs/job-lookup.js';
import { jobParamsSchema } from '../jobs/job-schemas.js';
import { type FeedEvent, type JobFeed, openJobFeed } from './job-feed.js';

/** Reconnection delay SSE clients are told to use (`retry:`). */
export const SSE_RETRY_MS = 2000;

const lastEventIdSchema = z
  .string()
  .regex(/^[0-9]{1,10}$/, 'the id: of the last event received (a job event seq)')
  .optional();

/** One SSE message. */
function sseMessage(id: number | undefined, event: string, data: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`;
}

/**
 * `GET /v1/jobs/:id/stream`: a job's events as Server-Sent Events for clients that want plain HTTP. Each event is
 * `id: <seq>`, `event: job_event`, `data: <JSON>`; the stored transitions after `Last-Event-ID` (all of them without
 * one) come first, then live events; `: ping` comments keep idle streams open; the stream ends with an `end` event
 * after the job's terminal event. A reconnect after the end gets 204, which tells EventSource to stop.
 */
export const sseRoutes: GatewayRouteModule = async (app) => {
  const gateway = app.gateway;
  const { config, streams } = gateway;

  app.route({
    method: 'GET',
    url: '/v1/jobs/:id/stream',
    config: { access: { role: 'viewer', scope: 'jobs:read' } },
    schema: {
      tags: ['jobs'],
      summary: 'Stream a job’s events (text/event-stream)',
      description:
        'Server-Sent Events: `id:` is the event’s seq (send it back as Last-Event-ID, or ?last_event_id=, to resume), `event: job_event`, `data:` the event JSON. Ends with `event: end` after the terminal state; 204 when there is nothing left to send for a finished job. A job of another organization: 404.',
      params: jobParamsSchema,
      headers: z.object({ 'last-event-id': lastEventIdSchema }),
      querystring: z.strictObject({ last_event_id: lastEventIdSchema }),
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const jobId = request.params.id;
      const job = await requireJob(gateway, auth.organizationId, jobId);
      const lastEventId = request.headers['last-event-id'] ?? request.query.last_event_id;
      const raw = reply.raw;
      let ended = false;
      let heartbeat: NodeJS.Timeout | undefined;
      let unregister: (() => void) | undefined;
      let feed: JobFeed | undefined;

      const end = (finalMessage?: string) => {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        feed?.stop();
        unregister?.();
        if (finalMessage !== undefined && !raw.destroyed) raw.write(finalMessage);
        raw.end();
      };
      const evict = () => {
        if (ended) return;
        streams.evicted('sse');
        request.log.info({ job_id: jobId, buffered: raw.writableLength }, 'SSE client evicted: slow consumer');
        ended = true;
        clearInterval(heartbeat);
        feed?.stop();
        unregister?.();
        // The client is not reading: drop the connection instead of queueing more.
        raw.destroy();
      };
      const write = (text: string) => {
        if (ended || raw.destroyed) return;
        if (raw.writableLength + Buffer.byteLength(text) > config.streamMaxBufferedBytes) {
          evict();
          return;
        }
        raw.write(text);
      };
      const onEvent = (event: FeedEvent) => {
        write(sseMessage(event.view.seq, 'job_event', event.json));
        if (event.final) {
          end(sseMessage(undefined, 'end', JSON.stringify({ job_id: jobId, state: event.view.state })));
        }
      };

      feed = await openJobFeed({
        db: gateway.db,
        hub: gateway.jobEvents,
        tenant: auth.organizationId,
        jobId,
        // Beyond any seq there is (a 10-digit id may pass Postgres's integer): after everything.
        resume: { kind: 'seq', seq: lastEventId === undefined ? 0 : Math.min(Number(lastEventId), MAX_PG_INTEGER) },
        replayLimit: config.streamReplayLimit,
        maxPending: config.streamReplayLimit,
        deliver: onEvent,
        overflow: evict,
      });
      if (ended || raw.destroyed || request.raw.socket?.destroyed) {
        // Evicted while the replay was read, or the client left during the lookups (its 'close' came before any
        // listener was there to hear it): the connection is gone, and so must the feed be.
        feed.stop();
        reply.hijack();
        return reply;
      }
      const finished = job.kind === 'recorded' && isTerminal(job.row.state as JobState);
      if (finished && feed.replayed === 0) {
        feed?.stop();
        return reply.code(204).send();
      }

      reply.hijack();
      const headers: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
      raw.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(`retry: ${SSE_RETRY_MS}\n\n`);
      raw.on('close', () => {
        if (!ended) {
          ended = true;
          clearInterval(heartbeat);
          feed?.stop();
          unregister?.();
        }
      });
      const closeOnShutdown = streams.open('sse', () =>
        end(sseMessage(undefined, 'close', '{"reason":"server shutting down"}')),
      );
      // A key or user changed somewhere: re-check this stream's credential; a revoked one ends the stream.
      const credential = gateway.credentials.read(request.headers);
      const stopWatching = credential
        ? gateway.credentialChanges.onChange(() => {
            void gateway.credentials.resolve(credential, request.headers).catch((err: unknown) => {
              if (!(err instanceof GatewayError)) return; // a database hiccup is not a verdict
              const reason = JSON.stringify({ reason: 'credential rejected', code: err.code, message: err.message });
              end(sseMessage(undefined, 'close', reason));
            });
          })
        : undefined;
      unregister = () => {
        closeOnShutdown();
        stopWatching?.();
      };
      heartbeat = setInterval(() => write(': ping\n\n'), config.sseHeartbeatMs);
      if (feed.truncated) write(`: replay truncated after ${feed.replayed} events\n\n`);
      feed.start();
      return reply;
    },
  });
};
