import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { GatewayContext } from '../app/gateway-context.js';
import type { AuthContext } from '../auth/auth-context.js';
import type { CredentialHeaders, PresentedCredential } from '../auth/credential-resolver.js';
import { roleAtLeast } from '../auth/roles.js';
import { hasScope } from '../auth/scopes.js';
import { type ErrorCodeName, ErrorCodes } from '../errors/error-codes.js';
import { GatewayError } from '../errors/gateway-error.js';
import { locateJob } from '../jobs/job-lookup.js';
import { jobIdSchema } from '../jobs/job-schemas.js';
import { acceptedJobView, toJob } from '../jobs/job-view.js';
import { type JobFeed, openJobFeed } from './job-feed.js';
import {
  encodeFrame,
  encodeRaw,
  encodeReply,
  PHOENIX_TOPIC,
  PhoenixEvent,
  type PhoenixFrame,
  type PhoenixRef,
  parseFrame,
} from './phoenix-protocol.js';
import { parseResumeCursor, ResumeCursorError } from './stored-job-events.js';

/** WebSocket close codes the gateway uses (4000–4999 are application codes). */
export const WsCloseCode = {
  /** Server shutting down: reconnect to another replica. */
  goingAway: 1001,
  /** No message (not even a heartbeat) within the idle timeout. */
  idle: 4000,
  /** The credential was revoked, expired or stopped resolving. */
  credentialRejected: 4001,
  /** The client read too slowly and fell more than the buffer limit behind. */
  slowConsumer: 4008,
} as const;

/** Event name of job pushes on `jobs:*` and `jobs:<job_id>`. */
export const JOB_EVENT = 'job_event';
/** Most channels one socket may join. */
export const MAX_CHANNELS_PER_SOCKET = 100;
/** Inbound messages per second a socket may send before its messages are refused (code 6001). */
export const MAX_MESSAGES_PER_SECOND = 100;
/** How often a socket's credential is checked again (revoked keys end live sessions too). */
export const REVALIDATE_INTERVAL_MS = 60_000;
/** After an eviction's close frame, how long the socket may take to close before it is destroyed. */
const TERMINATE_AFTER_MS = 2000;

interface Channel {
  joinRef: PhoenixRef;
  feed?: JobFeed;
  release?: () => void;
}

/** What a session needs besides the gateway context. */
export interface ChannelSessionOptions {
  socket: WebSocket;
  auth: AuthContext;
  credential: PresentedCredential;
  headers: CredentialHeaders;
  logger: Logger;
}

/** A channel-join refusal, sent as `phx_reply {status: "error", response: {reason, code}}`. */
class JoinRefused extends Error {
  override readonly name = 'JoinRefused';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const refuse = (name: ErrorCodeName, message: string) => new JoinRefused(ErrorCodes[name].code, message);

/**
 * One WebSocket connection speaking Phoenix Channels v2. Topics:
 * - `jobs:<job_id>` — events of one job of the caller's organization (an unknown or foreign job is refused
 *   exactly alike, code 6002);
 * - `jobs:*` — events of every job of the organization;
 * - `agent:<agent_id>` — only the agent itself (an agent credential with that id); while joined the agent counts
 *   as connected in presence.
 * A join payload `{ "cursor": … }` replays the stored transitions after the cursor before live events. Unsent data
 * is bounded: a client more than `streamMaxBufferedBytes` behind is closed with 4008 (slow consumer).
 */
export function startChannelSession(gateway: GatewayContext, options: ChannelSessionOptions): void {
  const { socket, credential, headers, logger } = options;
  const { config, streams } = gateway;
  let auth = options.auth;
  const channels = new Map<string, Channel>();
  let closed = false;
  let windowStart = Date.now();
  let windowCount = 0;

  const unregister = streams.open('websocket', (reason) => close(WsCloseCode.goingAway, reason));

  const cleanup = () => {
    if (closed) return;
    closed = true;
    clearTimeout(idleTimer);
    clearInterval(revalidateTimer);
    stopWatching();
    for (const channel of channels.values()) endChannel(channel);
    channels.clear();
    unregister();
  };

  function close(code: number, reason: string) {
    cleanup();
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) {
      socket.close(code, reason.slice(0, 120));
      // A client that stopped reading never answers the close frame; don't keep its socket (and buffers) around.
      setTimeout(() => socket.terminate(), TERMINATE_AFTER_MS).unref();
    }
  }

  function endChannel(channel: Channel) {
    channel.feed?.stop();
    channel.release?.();
  }

  /** Sends a frame unless the client has fallen too far behind, in which case it is evicted. */
  function send(text: string): void {
    if (closed || socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount + Buffer.byteLength(text) > config.streamMaxBufferedBytes) {
      streams.evicted('websocket');
      logger.info(
        { organization_id: auth.organizationId, buffered: socket.bufferedAmount },
        'websocket client evicted: slow consumer',
      );
      close(WsCloseCode.slowConsumer, `slow consumer: more than ${config.streamMaxBufferedBytes} bytes unsent`);
      return;
    }
    socket.send(text);
  }

  let idleTimer = setTimeout(() => close(WsCloseCode.idle, 'idle timeout'), config.wsIdleTimeoutMs);
  const touch = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => close(WsCloseCode.idle, 'idle timeout'), config.wsIdleTimeoutMs);
  };

  // Re-checked every REVALIDATE_INTERVAL_MS, and at once when a key or user changes (a revocation ends the session).
  const revalidate = () => {
    if (closed) return;
    void gateway.credentials.resolve(credential, headers).then(
      (fresh) => {
        auth = fresh;
      },
      (err: unknown) => {
        // A rejected credential ends the session; a database hiccup does not (the next check decides).
        if (err instanceof GatewayError) close(WsCloseCode.credentialRejected, err.message);
        else logger.warn({ err }, 'could not re-check the credential of a websocket session');
      },
    );
  };
  const revalidateTimer = setInterval(revalidate, REVALIDATE_INTERVAL_MS);
  revalidateTimer.unref();
  const stopWatching = gateway.credentialChanges.onChange(revalidate);

  const reply = (frame: PhoenixFrame, status: 'ok' | 'error', response: Record<string, unknown>) =>
    send(encodeReply(frame.joinRef, frame.ref, frame.topic, status, response));

  async function joinJobs(topic: string, frame: PhoenixFrame, channel: Channel): Promise<Record<string, unknown>> {
    if (!roleAtLeast(auth.role, 'viewer') || !hasScope(auth.scopes, 'jobs:read')) {
      throw refuse('FORBIDDEN', 'Insufficient permissions: job channels need the jobs:read scope');
    }
    const target = topic.slice('jobs:'.length);
    const jobId = target === '*' ? undefined : target;
    let response: Record<string, unknown> = {};
    // The seq the join reply's snapshot shows: without a cursor the feed resumes from it, so a transition made
    // between reading the snapshot and subscribing (a fast job ending) is replayed, not lost.
    let snapshotSeq = 0;
    if (jobId !== undefined) {
      if (!jobIdSchema.safeParse(jobId).success) throw refuse('TASK_NOT_FOUND', `Job ${jobId.slice(0, 128)} not found`);
      const job = await locateJob(gateway, auth.organizationId, jobId);
      if (!job) throw refuse('TASK_NOT_FOUND', `Job ${jobId} not found`);
      response = { job: job.kind === 'recorded' ? toJob(job.row) : acceptedJobView(jobId, job.accepted) };
      if (job.kind === 'recorded') snapshotSeq = Number(job.row.version);
    }
    const rawCursor = frame.payload.cursor;
    let resume: ReturnType<typeof parseResumeCursor> | undefined =
      jobId === undefined ? undefined : { kind: 'seq', seq: snapshotSeq };
    if (rawCursor !== undefined && rawCursor !== null) {
      try {
        resume = parseResumeCursor(rawCursor, jobId === undefined ? {} : { jobId });
      } catch (err) {
        throw refuse('INVALID_REQUEST', (err as Error).message);
      }
    }
    try {
      channel.feed = await openJobFeed({
        db: gateway.db,
        hub: gateway.jobEvents,
        tenant: auth.organizationId,
        ...(jobId === undefined ? {} : { jobId }),
        ...(resume === undefined ? {} : { resume }),
        replayLimit: config.streamReplayLimit,
        maxPending: config.streamReplayLimit,
        deliver: (event) => send(encodeRaw(channel.joinRef, null, topic, JOB_EVENT, event.json)),
        overflow: () => {
          streams.evicted('websocket');
          close(WsCloseCode.slowConsumer, 'slow consumer: too many live events during the replay');
        },
      });
    } catch (err) {
      if (err instanceof ResumeCursorError) throw refuse('INVALID_REQUEST', err.message);
      throw err;
    }
    return { ...response, replayed: channel.feed.replayed, truncated: channel.feed.truncated };
  }

  async function joinAgent(topic: string, channel: Channel): Promise<Record<string, unknown>> {
    const agentId = topic.slice('agent:'.length);
    if (auth.principalType !== 'agent' || auth.principalId !== agentId) {
      throw refuse(
        'FORBIDDEN',
        `Unauthorized: only agent ${agentId.slice(0, 128)} itself may join ${topic.slice(0, 140)}`,
      );
    }
    const agent = await gateway.db
      .selectFrom('agents')
      .select(['worker_id'])
      .where('organization_id', '=', auth.organizationId)
      .where('agent_id', '=', agentId)
      .executeTakeFirst();
    if (!agent) throw refuse('AGENT_NOT_FOUND', `Agent ${agentId} not found`);
    const releasePresence = gateway.presence.connect(agent.worker_id);
    const releaseConnected = streams.connect(agent.worker_id);
    channel.release = () => {
      releasePresence();
      releaseConnected();
    };
    return { agent_id: agentId, worker_id: agent.worker_id };
  }

  async function join(frame: PhoenixFrame): Promise<void> {
    const { topic } = frame;
    const previous = channels.get(topic);
    if (previous) {
      // Phoenix semantics: a second join of a topic replaces the first channel.
      endChannel(previous);
      channels.delete(topic);
      send(encodeFrame(previous.joinRef, previous.joinRef, topic, PhoenixEvent.close, {}));
    }
    if (channels.size >= MAX_CHANNELS_PER_SOCKET) {
      reply(frame, 'error', { reason: `at most ${MAX_CHANNELS_PER_SOCKET} channels per socket`, code: 3001 });
      return;
    }
    const channel: Channel = { joinRef: frame.joinRef ?? frame.ref };
    // Reserve the topic while the join runs, so a concurrent join of the same topic is not lost.
    channels.set(topic, channel);
    try {
      // Every join re-checks the credential: a revoked key or disabled account cannot subscribe to anything new.
      try {
        auth = await gateway.credentials.resolve(credential, headers);
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
        endChannel(channel);
        if (channels.get(topic) === channel) channels.delete(topic);
        reply(frame, 'error', { reason: err.message, code: err.code });
        close(WsCloseCode.credentialRejected, err.message);
        return;
      }
      let response: Record<string, unknown>;
      if (topic.startsWith('jobs:')) response = await joinJobs(topic, frame, channel);
      else if (topic.startsWith('agent:')) response = await joinAgent(topic, channel);
      else {
        throw refuse('INVALID_REQUEST', 'Unknown topic; expected agent:<agent_id>, jobs:<job_id> or jobs:*');
      }
      if (closed || channels.get(topic) !== channel) {
        endChannel(channel);
        return;
      }
      reply(frame, 'ok', response);
      channel.feed?.start();
    } catch (err) {
      endChannel(channel);
      if (channels.get(topic) === channel) channels.delete(topic);
      if (err instanceof JoinRefused) {
        reply(frame, 'error', { reason: err.message, code: err.code });
        return;
      }
      logger.error({ err, topic }, 'channel join failed');
      reply(frame, 'error', { reason: 'internal error', code: ErrorCodes.INTERNAL.code });
    }
  }

  function leave(frame: PhoenixFrame, channel: Channel): void {
    endChannel(channel);
    channels.delete(frame.topic);
    reply(frame, 'ok', {});
    send(encodeFrame(channel.joinRef, channel.joinRef, frame.topic, PhoenixEvent.close, {}));
  }

  function rateLimited(): boolean {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      windowCount = 0;
    }
    windowCount++;
    return windowCount > MAX_MESSAGES_PER_SECOND;
  }

  socket.on('message', (data, isBinary) => {
    if (closed) return;
    touch();
    const parsed = parseFrame(isBinary ? '' : data.toString());
    if (!parsed.ok) {
      send(encodeFrame(null, parsed.ref, PHOENIX_TOPIC, PhoenixEvent.error, { reason: parsed.reason, code: 3001 }));
      return;
    }
    const frame = parsed.frame;
    if (rateLimited()) {
      reply(frame, 'error', { reason: `more than ${MAX_MESSAGES_PER_SECOND} messages per second`, code: 6001 });
      return;
    }
    if (frame.topic === PHOENIX_TOPIC) {
      if (frame.event === PhoenixEvent.heartbeat) reply(frame, 'ok', {});
      else reply(frame, 'error', { reason: `unknown event ${frame.event} on topic phoenix`, code: 3001 });
      return;
    }
    if (frame.event === PhoenixEvent.join) {
      void join(frame);
      return;
    }
    const channel = channels.get(frame.topic);
    if (!channel) {
      reply(frame, 'error', { reason: 'unmatched topic' });
      return;
    }
    if (frame.event === PhoenixEvent.leave) leave(frame, channel);
    else if (frame.event === PhoenixEvent.heartbeat) reply(frame, 'ok', { timestamp: new Date().toISOString() });
    else reply(frame, 'error', { reason: `unsupported event ${frame.event} on ${frame.topic}`, code: 3001 });
  });
  socket.on('close', cleanup);
  socket.on('error', (err) => {
    logger.debug({ err }, 'websocket error');
    cleanup();
  });
}
