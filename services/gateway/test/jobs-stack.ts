import { type Bus, createBus } from '@capstan/bus';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import { createScheduler, type Scheduler, type SchedulerOptions } from '@capstan/scheduler';
import { type NatsHandle, startNats, testServices, uniqueName } from '@capstan/testkit';
import { createWorker, type JobHandler, type Worker } from '@capstan/worker';
import { WebSocket } from 'ws';
import type { GatewayServiceConfig } from '../src/gateway-config.js';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

/**
 * The whole job pipeline for gateway tests: a private JetStream nats-server (the scheduler's queue group and
 * durable consumer have fixed names, so it must not share a server with other test files), a gateway on it, a real
 * scheduler on the gateway's test database, and real `@capstan/worker` workers started per test.
 */
export interface JobsStack {
  nats: NatsHandle;
  gw: TestGateway;
  api: ApiCall;
  pointers: PointerStore;
  /** The running scheduler (throws while stopped). */
  readonly scheduler: Scheduler;
  /** Stops the scheduler (submits stay in the JetStream stream meanwhile). */
  stopScheduler(): Promise<void>;
  /** Starts a scheduler again after {@link stopScheduler}. */
  startScheduler(): Promise<void>;
  /** Starts a TypeScript SDK worker on `topic` (heartbeats every 500 ms) and waits until the scheduler knows it. */
  worker<TInput = unknown>(
    topic: string,
    handler: JobHandler<TInput>,
    options?: { workerId?: string },
  ): Promise<Worker>;
  stop(): Promise<void>;
}

/** Starts the stack; `overrides` go to the gateway config. */
export async function startJobsStack(
  overrides: Partial<GatewayServiceConfig> = {},
  schedulerOptions: Partial<SchedulerOptions> = {},
): Promise<JobsStack> {
  const nats = await startNats({ jetstream: true });
  const gw = await startTestGateway({ natsUrl: nats.url, ...overrides });
  const buses: Bus[] = [];
  const newScheduler = async () => {
    const bus = await createBus({ servers: nats.url, senderId: uniqueName('sched') });
    buses.push(bus);
    return createScheduler({
      bus,
      db: gw.store.db,
      timings: {
        sweepIntervalMs: 50,
        reconcileIntervalMs: 200,
        overdueGraceMs: 300,
        cancelGraceMs: 1500,
        retryBackoff: { baseMs: 50, maxMs: 200 },
      },
      ...schedulerOptions,
    });
  };
  let scheduler: Scheduler | undefined = await newScheduler();
  const pointers = createPointerStore({ redis: testServices().redisUrl });
  const workers: Worker[] = [];
  return {
    nats,
    gw,
    api: apiClient(gw.url),
    pointers,
    get scheduler() {
      if (!scheduler) throw new Error('the scheduler is stopped');
      return scheduler;
    },
    async stopScheduler() {
      await scheduler?.stop();
      scheduler = undefined;
    },
    async startScheduler() {
      scheduler ??= await newScheduler();
    },
    async worker(topic, handler, options = {}) {
      const worker = await createWorker({
        servers: nats.url,
        pointers,
        topics: [topic],
        heartbeatIntervalMs: 500,
        handler,
        ...(options.workerId ? { workerId: options.workerId } : {}),
      });
      workers.push(worker);
      const deadline = Date.now() + 5000;
      while (!scheduler?.workers.isLive(worker.id, Date.now())) {
        if (Date.now() > deadline) throw new Error(`worker ${worker.id} never became live at the scheduler`);
        await sleep(50);
      }
      return worker;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.shutdown({ timeoutMs: 1000 }).catch(() => {})));
      await scheduler?.stop();
      for (const bus of buses) await bus.close();
      await pointers.close();
      await gw.stop();
      await nats.stop();
    },
  };
}

/** Waits `ms`. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A fresh organization with an owner token and a developer API key. */
export async function tenant(api: ApiCall, label: string) {
  const org = await registerOrg(api, label);
  const key = (await createKey(api, org.token, { role: 'developer' })).key;
  return { ...org, key };
}

/** A unique job topic. */
export const topic = () => `job.${uniqueName('gw')}`;

/** Polls GET /v1/jobs/:id until `done(state)` holds; returns the job. */
export async function waitForState(
  api: ApiCall,
  key: string,
  jobId: string,
  done: (state: string) => boolean,
  timeoutMs = 15_000,
) {
  return eventually(
    async () => {
      const res = await api('GET', `/v1/jobs/${jobId}`, { key });
      return res.status === 200 && done(res.body.state) ? res.body : undefined;
    },
    `job ${jobId} to reach the expected state`,
    timeoutMs,
  );
}

/** A Phoenix-channel client over `ws`, for the tests. */
export interface PhoenixClient {
  socket: WebSocket;
  /** Every frame received, in order. */
  frames: unknown[][];
  /** Sends a frame and returns its ref. */
  push(topic: string, event: string, payload?: Record<string, unknown>, joinRef?: string | null): string;
  /** Joins and waits for the reply; returns the reply payload `{status, response}`. */
  join(
    topic: string,
    payload?: Record<string, unknown>,
  ): Promise<{ status: string; response: Record<string, unknown> }>;
  /** Waits for the reply to `ref`. */
  reply(ref: string): Promise<{ status: string; response: Record<string, unknown> }>;
  /** Waits for a frame matching `match`. */
  waitFor(match: (frame: unknown[]) => boolean, what: string, timeoutMs?: number): Promise<unknown[]>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Opens `/ws/v1?token=…&vsn=2.0.0`; rejects with the HTTP status when the upgrade is refused. */
export async function connectPhoenix(baseUrl: string, token: string | undefined): Promise<PhoenixClient> {
  const query = new URLSearchParams({ vsn: '2.0.0', ...(token === undefined ? {} : { token }) });
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws/v1?${query}`);
  const frames: unknown[][] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as unknown[]);
    for (const wake of [...waiters]) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    socket.once('error', reject);
  });
  let ref = 0;
  const waitFor = (match: (frame: unknown[]) => boolean, what: string, timeoutMs = 10_000) =>
    new Promise<unknown[]>((resolve, reject) => {
      const check = () => {
        const found = frames.find(match);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(frames).slice(0, 2000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  const client: PhoenixClient = {
    socket,
    frames,
    closed,
    push(topic, event, payload = {}, joinRef = null) {
      ref++;
      socket.send(JSON.stringify([joinRef, String(ref), topic, event, payload]));
      return String(ref);
    },
    async reply(r) {
      const frame = await waitFor((f) => f[1] === r && f[3] === 'phx_reply', `reply to ref ${r}`);
      return frame[4] as { status: string; response: Record<string, unknown> };
    },
    async join(topic, payload = {}) {
      const joinRef = String(ref + 1);
      return client.reply(client.push(topic, 'phx_join', payload, joinRef));
    },
    waitFor,
    close: () => socket.close(),
  };
  return client;
}

/** Reads an SSE response to its end (or until `until` returns true), returning the parsed messages. */
export async function readSse(
  url: string,
  headers: Record<string, string>,
  options: { until?: (messages: SseMessage[]) => boolean; timeoutMs?: number } = {},
): Promise<{ status: number; headers: Headers; messages: SseMessage[]; comments: string[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 15_000);
  const res = await fetch(url, { headers, signal: controller.signal });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  if (res.status !== 200 || !res.body) {
    clearTimeout(timer);
    await res.body?.cancel();
    return { status: res.status, headers: res.headers, messages, comments };
  }
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const message: SseMessage = { data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else if (line.startsWith('id: ')) message.id = line.slice(4);
          else if (line.startsWith('event: ')) message.event = line.slice(7);
          else if (line.startsWith('data: ')) message.data += line.slice(6);
          else if (line.startsWith('retry: ')) message.retry = Number(line.slice(7));
        }
        if (message.event !== undefined) messages.push(message);
        end = buffer.indexOf('\n\n');
      }
      if (options.until?.(messages)) break;
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { status: res.status, headers: res.headers, messages, comments };
}

/** One parsed SSE message. */
export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}
