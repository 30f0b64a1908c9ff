import type { BusPacket } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import {
  CAPSTAN_SUBJECT_PREFIX,
  createPacket,
  encodePacket,
  type PacketOf,
  type PacketPayload,
  type PacketRejection,
  type PacketSigner,
  type PacketVerifier,
  type PayloadCase,
  parsePacket,
} from '@capstan/protocol';
import {
  AckPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type PubAck,
} from '@nats-io/jetstream';
import {
  type ConnectionOptions,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type Logger, pino } from 'pino';
import type { Registry } from 'prom-client';
import { createDeadLetter, type DeadLetterSink, deadLetterFromRejection, encodeDeadLetter } from './dead-letter.js';
import { BusError, PacketRejectedError } from './errors.js';
import { type BusStats, createBusMetrics } from './metrics.js';
import { capstanStreams, type StreamSpec } from './stream-specs.js';

/** Options for {@link createBus}. */
export interface BusOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** This component's identity: the packets' `sender_id` and the NATS connection name. */
  senderId: string;
  /** @default a silent pino logger */
  logger?: Logger;
  /** Prometheus registry for the bus counters; @default none (counters still readable via `stats()`) */
  registry?: Registry;
  /** Signs every published packet when set. */
  signer?: PacketSigner;
  /** Verifies signatures of every consumed packet when set (rejects per its `requireSignatures`). */
  verifier?: PacketVerifier;
  /** Also receives every dead letter (e.g. to persist it in Postgres). */
  deadLetterSink?: DeadLetterSink;
  /** Extra nats.js connection options (credentials, TLS...). */
  connection?: Partial<ConnectionOptions>;
}

/** Context a handler gets beside the decoded packet. */
export interface HandlerContext {
  /** Subject the packet arrived on. */
  subject: string;
  /** The exact bytes received. */
  raw: Uint8Array;
  /** Reply subject for request/reply, if any. */
  reply?: string;
  /** JetStream delivery count (1 on first delivery; always 1 on core subscriptions). */
  deliveryCount: number;
  /** Reads a NATS header of the message (e.g. `CapstanHeaders.lease`). */
  header(name: string): string | undefined;
}

/** Options of a publish. */
export interface PublishOptions {
  /** NATS headers to send with the packet. */
  headers?: Readonly<Record<string, string>>;
}

/** Handles one validated packet. Throw {@link PacketRejectedError} to dead-letter it. */
export type PacketHandler<C extends PayloadCase> = (packet: PacketOf<C>, ctx: HandlerContext) => void | Promise<void>;

/** Options for {@link Bus.subscribe}. */
export interface SubscribeOptions<C extends PayloadCase> {
  /** Queue group: one member of the group gets each packet. */
  queue?: string;
  /** Payload kinds accepted; anything else is dead-lettered as UNKNOWN_PAYLOAD. @default every kind */
  expect?: readonly C[];
  /** Packets handled at once; 1 keeps arrival order. @default 32 */
  concurrency?: number;
  /** Name used in logs and dead letters; @default the subject */
  name?: string;
  handler: PacketHandler<C>;
}

/** Options for {@link Bus.consume} (a JetStream durable pull consumer). */
export interface ConsumeOptions<C extends PayloadCase> extends Omit<SubscribeOptions<C>, 'queue'> {
  stream: string;
  /** Durable consumer name; replicas that share it share the work. */
  durable: string;
  /** Only this subject of the stream; @default all its subjects */
  filterSubject?: string;
  /** Unacked messages in flight per consumer; @default 1024 */
  maxAckPending?: number;
  /** Messages pulled ahead of the handlers (held by this client, not in the stream); @default max(2 × concurrency, 64) */
  prefetch?: number;
  /** Redelivery after this long without an ack; @default 30000 */
  ackWaitMs?: number;
  /**
   * Failed deliveries (handler errors that are not transient) before a packet is dead-lettered; redeliveries after
   * transient failures or an expired ack wait do not count. @default 5
   */
  maxDeliver?: number;
  /**
   * Says a handler error means a dependency is down (the database restarting), not that the packet is bad: such a
   * packet is redelivered with backoff (up to 30 s) for as long as the outage lasts and never dead-lettered, so an
   * acknowledged submit outlives an outage of any length. @default nothing is transient
   */
  isTransient?: (err: unknown) => boolean;
  /** First redelivery delay after a handler error, doubled each time up to 30 s; @default 500 */
  retryDelayMs?: number;
}

/** A running subscription or consumer. */
export interface BusSubscription {
  readonly subject: string;
  /** Stops taking packets and waits for in-flight handlers. */
  stop(): Promise<void>;
}

/** Typed CAP packets over NATS: publish, subscribe, request, durable consume, dead-lettering. */
export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly senderId: string;
  readonly logger: Logger;
  /** A new packet from this component (trace id, created_at and protocol_version filled in). */
  packet<C extends PayloadCase>(payload: Extract<PacketPayload, { case: C }>, opts?: { traceId?: string }): PacketOf<C>;
  /** Publishes a packet (signed if a signer is configured). Fire-and-forget; core NATS. */
  publish(subject: string, packet: BusPacket, opts?: PublishOptions): void;
  /** Publishes to a JetStream-backed subject and waits for the stream's ack. `msgId` dedupes within the stream window. */
  publishDurable(
    subject: string,
    packet: BusPacket,
    opts?: PublishOptions & { msgId?: string; timeoutMs?: number },
  ): Promise<PubAck>;
  /** Request/reply with packets; the reply is validated like any consumed packet. */
  request(subject: string, packet: BusPacket, opts?: { timeoutMs?: number }): Promise<BusPacket>;
  /** Answers a request received through a subscription. */
  respond(reply: string, packet: BusPacket): void;
  /** Core NATS subscription with validation, dead-lettering and bounded concurrency. */
  subscribe<C extends PayloadCase>(subject: string, opts: SubscribeOptions<C>): BusSubscription;
  /** JetStream durable pull consumer: acked after the handler resolves, redelivered on failure, dead-lettered at the end. */
  consume<C extends PayloadCase>(opts: ConsumeOptions<C>): Promise<BusSubscription>;
  /**
   * Where a durable consumer stands in its stream: the stream's last sequence and the consumer's ack floor (every
   * message up to it is acknowledged). @throws when JetStream can't answer now.
   */
  consumerPosition(stream: string, durable: string): Promise<{ lastSeq: number; ackFloor: number }>;
  /**
   * The JetStream stream that captures `subject`, or undefined when none does (or JetStream is off).
   * @throws when the question can't be answered now (not connected, timeout).
   */
  streamFor(subject: string): Promise<string | undefined>;
  /** Creates (or updates) the streams Capstan needs. */
  ensureStreams(specs?: StreamSpec[]): Promise<void>;
  /** Called after every reconnect (e.g. to re-publish a handshake). Returns an unsubscribe function. */
  onReconnect(fn: () => void): () => void;
  /**
   * Publishes raw bytes (Capstan's own protobufs, e.g. job events) through the same coalescing outbox as
   * {@link Bus.publish}.
   */
  publishRaw(subject: string, data: Uint8Array): void;
  /**
   * Sends what {@link Bus.publish} queued in this turn now and waits until the NATS server has it (a PING round
   * trip). @throws when the connection is closed or the server does not answer
   */
  flush(): Promise<void>;
  /** Counters of this bus. */
  stats(): BusStats;
  /** Stops every subscription, waits for in-flight handlers, drains and closes the connection. */
  close(): Promise<void>;
}

const DEFAULT_CONCURRENCY = 32;

/** Connects to NATS and returns a {@link Bus}. Reconnects forever; the first connect fails fast with a clear error. */
export async function createBus(opts: BusOptions): Promise<Bus> {
  const logger = opts.logger ?? pino({ level: 'silent' });
  const metrics = createBusMetrics(opts.registry);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      name: opts.senderId,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 10_000,
      // nats.js otherwise builds two Error objects (stack traces) per request — every JetStream publish is one —
      // which cost ~8 % of a worker's or a client's CPU under load. Our own errors name the subject and the job.
      noAsyncTraces: true,
      ...opts.connection,
    });
  } catch (err) {
    throw new BusError(
      `cannot connect to NATS at ${[opts.servers].flat().join(', ')}: ${(err as Error).message}. Is nats-server running (with -js for JetStream)?`,
      { cause: err },
    );
  }
  const js = jetstream(nc);
  // Outbox: writes queued during one turn of the event loop leave in one socket write. nats.js flushes at the end of
  // every microtask burst, and a busy consumer produces many small bursts (one per resolved database commit), which
  // otherwise costs a syscall per packet.
  let outbox: (() => void)[] = [];
  const flushOutbox = () => {
    const batch = outbox;
    outbox = [];
    for (const send of batch) {
      try {
        send();
      } catch (err) {
        logger.error({ err }, 'publish failed');
      }
    }
  };
  const enqueue = (send: () => void) => {
    if (outbox.push(send) === 1) setImmediate(flushOutbox);
  };
  let jsm: JetStreamManager | undefined;
  const reconnectListeners = new Set<() => void>();
  const subscriptions = new Set<BusSubscription>();

  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          logger.warn({ server: s.server }, 'nats disconnected');
          break;
        case 'reconnect':
          logger.info({ server: s.server }, 'nats reconnected');
          for (const fn of reconnectListeners) {
            try {
              fn();
            } catch (err) {
              logger.error({ err }, 'reconnect listener failed');
            }
          }
          break;
        case 'slowConsumer':
          logger.warn(
            { subject: s.sub.getSubject(), pending: s.pending },
            'nats slow consumer: packets are being dropped',
          );
          break;
        case 'error':
          logger.error({ err: s.error }, 'nats error');
          break;
        default:
          break;
      }
    }
  })().catch(() => {});

  const sign = (packet: BusPacket) =>
    opts.signer && packet.senderId === opts.signer.senderId ? opts.signer.sign(packet) : packet;

  const deadLetter = async (letter: ReturnType<typeof createDeadLetter>) => {
    metrics.deadLettered(letter.subject);
    // Never dead-letter dead letters (no loops).
    if (!letter.subject.startsWith(`${CAPSTAN_SUBJECT_PREFIX}.dlq.`)) {
      const { subject, data } = encodeDeadLetter(letter);
      try {
        nc.publish(subject, data);
      } catch (err) {
        logger.error({ err, subject }, 'could not publish dead letter');
      }
    }
    if (opts.deadLetterSink) {
      try {
        await opts.deadLetterSink(letter);
      } catch (err) {
        logger.error({ err, subject: letter.subject }, 'dead letter sink failed');
      }
    }
  };

  /** When the stream stored a JetStream message (ms since the epoch). */
  const storedAt = (m: JsMsg) => m.time.getTime();

  /** Decode, validate, verify; dead-letters and returns undefined on rejection. */
  const admit = async <C extends PayloadCase>(
    subject: string,
    raw: Uint8Array,
    expect: readonly C[] | undefined,
    consumer: string,
    redelivery: boolean,
    storedAtMs?: number,
  ): Promise<PacketOf<C> | undefined> => {
    metrics.received(subject);
    const parsed = parsePacket<C>(raw, expect ? { expect } : {});
    let rejection: PacketRejection | undefined = parsed.ok ? undefined : parsed;
    if (parsed.ok && opts.verifier) {
      const v = opts.verifier.verify(parsed.packet, raw, {
        redelivery,
        ...(storedAtMs !== undefined ? { storedAtMs } : {}),
      });
      if (!v.ok) rejection = v;
    }
    if (rejection) {
      metrics.rejected(subject, rejection.code);
      logger.warn(
        {
          subject,
          consumer,
          code: rejection.code,
          reason: rejection.reason,
          sender_id: rejection.packet?.senderId,
          trace_id: rejection.packet?.traceId,
        },
        'packet rejected',
      );
      await deadLetter(deadLetterFromRejection(subject, raw, rejection, consumer));
      return undefined;
    }
    return (parsed as { packet: PacketOf<C> }).packet;
  };

  const rejectFromHandler = async (
    subject: string,
    raw: Uint8Array,
    packet: BusPacket,
    consumer: string,
    err: PacketRejectedError,
  ) => {
    metrics.rejected(subject, err.code);
    logger.warn(
      { subject, consumer, code: err.code, reason: err.message, sender_id: packet.senderId, trace_id: packet.traceId },
      'packet refused by handler',
    );
    await deadLetter(
      createDeadLetter({
        subject,
        raw,
        code: err.wireCode,
        reason: err.message,
        consumer,
        senderId: packet.senderId,
        traceId: packet.traceId,
      }),
    );
  };

  const bus: Bus = {
    nc,
    js,
    senderId: opts.senderId,
    logger,

    packet(payload, popts) {
      return createPacket(payload, { senderId: opts.senderId, ...(popts?.traceId ? { traceId: popts.traceId } : {}) });
    },

    publish(subject, packet, popts) {
      const h = toHeaders(popts?.headers);
      const data = encodePacket(sign(packet));
      enqueue(() => nc.publish(subject, data, h ? { headers: h } : undefined));
      metrics.published(subject);
    },

    async publishDurable(subject, packet, popts) {
      const h = toHeaders(popts?.headers);
      const ack = await js.publish(subject, encodePacket(sign(packet)), {
        ...(popts?.msgId ? { msgID: popts.msgId } : {}),
        ...(h ? { headers: h } : {}),
        timeout: popts?.timeoutMs ?? 5000,
      });
      metrics.published(subject);
      return ack;
    },

    async request(subject, packet, ropts) {
      const reply = await nc.request(subject, encodePacket(sign(packet)), { timeout: ropts?.timeoutMs ?? 5000 });
      metrics.published(subject);
      const parsed = parsePacket(reply.data);
      if (!parsed.ok) throw new BusError(`invalid reply on ${subject}: ${parsed.reason}`);
      if (opts.verifier) {
        const v = opts.verifier.verify(parsed.packet, reply.data);
        if (!v.ok) throw new BusError(`reply on ${subject} refused: ${v.reason}`);
      }
      return parsed.packet;
    },

    respond(reply, packet) {
      const data = encodePacket(sign(packet));
      enqueue(() => nc.publish(reply, data));
    },

    subscribe(subject, sopts) {
      const name = sopts.name ?? subject;
      const sub: Subscription = nc.subscribe(subject, sopts.queue ? { queue: sopts.queue } : {});
      const limiter = createLimiter(sopts.concurrency ?? DEFAULT_CONCURRENCY);
      const process = async (m: Msg) => {
        const packet = await admit(m.subject, m.data, sopts.expect, name, false);
        if (!packet) return;
        try {
          await sopts.handler(packet, {
            subject: m.subject,
            raw: m.data,
            deliveryCount: 1,
            header: headerReader(m.headers),
            ...(m.reply ? { reply: m.reply } : {}),
          });
        } catch (err) {
          if (err instanceof PacketRejectedError) return rejectFromHandler(m.subject, m.data, packet, name, err);
          metrics.handlerError(m.subject);
          logger.error(
            { err, subject: m.subject, consumer: name, sender_id: packet.senderId, trace_id: packet.traceId },
            'handler failed',
          );
          // Core NATS will not redeliver: keep the packet for inspection.
          await deadLetter(
            createDeadLetter({
              subject: m.subject,
              raw: m.data,
              code: 'HANDLER_FAILED',
              reason: String((err as Error)?.message ?? err),
              consumer: name,
              senderId: packet.senderId,
              traceId: packet.traceId,
            }),
          );
        }
      };
      const loop = (async () => {
        for await (const m of sub) {
          await limiter.acquire();
          void process(m).finally(limiter.release);
        }
      })();
      const handle: BusSubscription = {
        subject,
        async stop() {
          subscriptions.delete(handle);
          if (!sub.isClosed()) await sub.drain().catch(() => {});
          await loop.catch(() => {});
          await limiter.idle();
        },
      };
      subscriptions.add(handle);
      return handle;
    },

    async consume(copts) {
      jsm ??= await jetstreamManager(nc);
      const name = copts.name ?? copts.durable;
      const maxDeliver = copts.maxDeliver ?? 5;
      const ackWaitMs = copts.ackWaitMs ?? 30_000;
      const isTransient = copts.isTransient ?? (() => false);
      const config = {
        durable_name: copts.durable,
        ack_policy: AckPolicy.Explicit,
        max_ack_pending: copts.maxAckPending ?? 1024,
        ack_wait: ackWaitMs * 1_000_000,
        // Unlimited on the server: this consumer decides when to give up (transient failures never count).
        max_deliver: -1,
        ...(copts.filterSubject ? { filter_subject: copts.filterSubject } : {}),
      };
      try {
        await jsm.consumers.add(copts.stream, config);
      } catch (err) {
        // Existing consumer with an older config: update what may change.
        try {
          await jsm.consumers.update(copts.stream, copts.durable, {
            max_ack_pending: config.max_ack_pending,
            ack_wait: config.ack_wait,
            max_deliver: config.max_deliver,
          });
        } catch {
          throw new BusError(
            `cannot create consumer ${copts.durable} on stream ${copts.stream}: ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
      const consumer = await js.consumers.get(copts.stream, copts.durable);
      const concurrency = copts.concurrency ?? DEFAULT_CONCURRENCY;
      // Pull requests live 5 s (heartbeats every 2.5 s) instead of nats.js's 30 s: when the consumer's leader dies
      // in a JetStream cluster, lost pulls are noticed and re-issued within seconds, not half a minute.
      const messages = await consumer.consume({
        max_messages: copts.prefetch ?? Math.max(concurrency * 2, 64),
        expires: 5000,
      });
      const limiter = createLimiter(concurrency);
      // A slow handler (a commit waiting on a busy database) keeps its message: one timer per consumer tells
      // JetStream "still working" for every packet held longer than a third of the ack wait, so it is not
      // redelivered to another replica meanwhile.
      const inFlight = new Map<JsMsg, number>();
      const keepAlive = setInterval(
        () => {
          const due = Date.now() - ackWaitMs / 3;
          for (const [msg, since] of inFlight) if (since <= due) enqueue(() => msg.working());
        },
        Math.max(50, ackWaitMs / 6),
      );
      keepAlive.unref();
      const retryBase = copts.retryDelayMs ?? 500;
      // Failures that were not transient, per stream sequence: only they count toward maxDeliver. The delivery count
      // also counts outages' naks and ack-wait expiries, and would dead-letter a packet at its first real error after
      // a long outage. Bounded (oldest forgotten): a packet bouncing between replicas is still given up on by one.
      const failures = new Map<number, number>();
      const failed = (seq: number) => {
        const n = (failures.get(seq) ?? 0) + 1;
        failures.delete(seq);
        failures.set(seq, n);
        if (failures.size > 10_000) failures.delete(failures.keys().next().value as number);
        return n;
      };
      const process = async (m: JsMsg) => {
        const deliveryCount = m.info.deliveryCount;
        // Its age counts to when the stream stored it: a packet that waited out an outage is not a replay.
        const packet = await admit(m.subject, m.data, copts.expect, name, m.redelivered, storedAt(m));
        if (!packet) {
          enqueue(() => m.ack());
          return;
        }
        try {
          await copts.handler(packet, {
            subject: m.subject,
            raw: m.data,
            deliveryCount,
            header: headerReader(m.headers),
          });
          failures.delete(m.seq);
          enqueue(() => m.ack());
        } catch (err) {
          if (err instanceof PacketRejectedError) {
            await rejectFromHandler(m.subject, m.data, packet, name, err);
            enqueue(() => m.ack());
            return;
          }
          metrics.handlerError(m.subject);
          logger.error(
            {
              err,
              subject: m.subject,
              consumer: name,
              delivery: deliveryCount,
              sender_id: packet.senderId,
              trace_id: packet.traceId,
            },
            'handler failed',
          );
          const attempts = isTransient(err) ? 0 : failed(m.seq);
          if (attempts >= maxDeliver) {
            failures.delete(m.seq);
            await deadLetter(
              createDeadLetter({
                subject: m.subject,
                raw: m.data,
                code: 'HANDLER_FAILED',
                reason: `gave up after ${attempts} failed deliveries: ${String((err as Error)?.message ?? err)}`,
                consumer: name,
                senderId: packet.senderId,
                traceId: packet.traceId,
              }),
            );
            enqueue(() => m.ack());
          } else {
            enqueue(() => m.nak(Math.min(retryBase * 2 ** Math.min(deliveryCount - 1, 16), 30_000)));
          }
        }
      };
      const loop = (async () => {
        for await (const m of messages) {
          // Kept alive from receipt: waiting for a free handler slot counts against the ack wait too.
          inFlight.set(m, Date.now());
          await limiter.acquire();
          void process(m).finally(() => {
            inFlight.delete(m);
            limiter.release();
          });
        }
      })();
      // The iterator fails only on a broken consumer (deleted, no permission): say so rather than crash the process.
      loop.catch((err: unknown) =>
        logger.error({ err, stream: copts.stream, consumer: name }, 'JetStream consumer stopped; no more packets'),
      );
      const handle: BusSubscription = {
        subject: copts.filterSubject ?? copts.stream,
        async stop() {
          subscriptions.delete(handle);
          await messages.close().catch(() => {});
          await loop.catch(() => {});
          await limiter.idle();
          clearInterval(keepAlive);
        },
      };
      subscriptions.add(handle);
      return handle;
    },

    async consumerPosition(stream, durable) {
      jsm ??= await jetstreamManager(nc);
      const [si, ci] = await Promise.all([jsm.streams.info(stream), jsm.consumers.info(stream, durable)]);
      return { lastSeq: si.state.last_seq, ackFloor: ci.ack_floor.stream_seq };
    },

    async streamFor(subject) {
      try {
        jsm ??= await jetstreamManager(nc);
        return await jsm.streams.find(subject);
      } catch (err) {
        const name = (err as Error).name;
        if (name === 'StreamNotFoundError' || name === 'JetStreamNotEnabled') return undefined;
        throw err;
      }
    },

    async ensureStreams(specs = capstanStreams()) {
      jsm ??= await jetstreamManager(nc);
      for (const spec of specs) {
        try {
          await jsm.streams.info(spec.name);
          await jsm.streams.update(spec.name, spec);
        } catch (err) {
          if (!isNotFound(err))
            throw new BusError(`cannot update stream ${spec.name}: ${(err as Error).message}`, { cause: err });
          await jsm.streams.add(spec);
        }
      }
    },

    onReconnect(fn) {
      reconnectListeners.add(fn);
      return () => reconnectListeners.delete(fn);
    },

    publishRaw(subject, data) {
      enqueue(() => nc.publish(subject, data));
      metrics.published(subject);
    },

    async flush() {
      flushOutbox();
      await nc.flush();
    },

    stats: () => metrics.snapshot(),

    async close() {
      await Promise.all([...subscriptions].map((s) => s.stop()));
      flushOutbox();
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
  return bus;
}

function toHeaders(values: Readonly<Record<string, string>> | undefined): MsgHdrs | undefined {
  if (!values) return undefined;
  const h = natsHeaders();
  for (const [k, v] of Object.entries(values)) h.set(k, v);
  return h;
}

const noHeader = () => undefined;
function headerReader(h: MsgHdrs | undefined): (name: string) => string | undefined {
  if (!h) return noHeader;
  return (name) => (h.has(name) ? h.get(name) : undefined);
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || /not found/i.test(e?.message ?? '');
}

/** A counting semaphore with an `idle()` wait, so consumers bound their in-flight work. */
function createLimiter(max: number) {
  let active = 0;
  const waiters: (() => void)[] = [];
  let idleWaiters: (() => void)[] = [];
  return {
    acquire(): Promise<void> | void {
      if (active < max) {
        active++;
        return;
      }
      return new Promise<void>((resolve) =>
        waiters.push(() => {
          active++;
          resolve();
        }),
      );
    },
    release: () => {
      active--;
      const next = waiters.shift();
      if (next) next();
      else if (active === 0) {
        for (const w of idleWaiters) w();
        idleWaiters = [];
      }
    },
    idle(): Promise<void> {
      return active === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
