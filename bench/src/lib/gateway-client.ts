/** A benchmark's view of the gateway: an API key, keep-alive HTTP submits, and job events over the Phoenix v2 WebSocket. */
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import type { ClosableTarget } from './capstan-target.js';

/** JSON request to the gateway; throws with the status and body on anything but 2xx. */
export async function gatewayJson(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Record<string, unknown>> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${url} → ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Registers an organization and returns a developer API key (X-API-Key) of it. */
export async function createApiKey(base: string): Promise<string> {
  const registered = await gatewayJson(`${base}/v1/auth/register`, {
    method: 'POST',
    body: JSON.stringify({
      organization_name: 'Bench',
      user_name: 'Bench',
      email: 'bench@example.test',
      password: 'correct horse battery',
    }),
  });
  const created = await gatewayJson(`${base}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${registered['token'] as string}` },
    body: JSON.stringify({ name: 'bench', role: 'developer' }),
  });
  return (created['api_key'] as { key: string }).key;
}

/** A `POST /v1/jobs` answered with something other than 202: its HTTP status and the error body's numeric code. */
export class RestSubmitRefusal extends Error {
  override name = 'RestSubmitRefusal';
  /** `error.code` of the JSON error body; 0 when the body is not the gateway's error shape. */
  readonly code: number;
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`POST /v1/jobs → ${status}: ${body}`);
    let code = 0;
    try {
      code = Number((JSON.parse(body) as { error?: { code?: unknown } }).error?.code ?? 0);
    } catch {
      // not JSON: keep 0
    }
    this.code = code;
  }
}

/** Options of {@link createRestTarget}. */
export interface RestTargetOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:4001. */
  base: string;
  apiKey: string;
  topic: string;
  input: (i: number) => unknown;
  /** Keep-alive HTTP connections to the gateway (like autocannon's connections). @default 50 */
  connections?: number;
}

/**
 * Jobs through the REST API: job `i` is `POST /v1/jobs {topic, input}` on a keep-alive connection pool; it is
 * done when its SUCCEEDED `job_event` arrives on one WebSocket joined to `jobs:*` (Phoenix Channels v2). The
 * gateway picks the job id, so a SUCCEEDED event may arrive before the 202 that names it: such events wait for it.
 */
export async function createRestTarget(o: RestTargetOptions): Promise<ClosableTarget> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections ?? 50 });
  const url = new URL('/v1/jobs', o.base);
  let indexOf = new Map<string, number>();
  let early = new Set<string>();
  let done: ((i: number) => void) | undefined;

  const ws = new WebSocket(`${o.base.replace(/^http/, 'ws')}/ws/v1?token=${encodeURIComponent(o.apiKey)}&vsn=2.0.0`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const joined = new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const [, ref, , event, payload] = JSON.parse(String(data)) as [
        unknown,
        unknown,
        string,
        string,
        Record<string, unknown>,
      ];
      if (event === 'phx_reply' && ref === 'join') {
        if (payload['status'] === 'ok') resolve();
        else reject(new Error(`joining jobs:* failed: ${JSON.stringify(payload)}`));
        return;
      }
      if (event !== 'job_event' || payload['state'] !== 'SUCCEEDED') return;
      const id = payload['job_id'] as string;
      const i = indexOf.get(id);
      if (i === undefined) early.add(id);
      else done?.(i);
    });
  });
  ws.send(JSON.stringify(['join', 'join', 'jobs:*', 'phx_join', {}]));
  await joined;
  // phoenix.js beats every 30 s; the gateway closes a socket silent for 60 s.
  const beat = setInterval(() => ws.send(JSON.stringify([null, 'beat', 'phoenix', 'heartbeat', {}])), 20_000);

  const post = (body: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            'x-api-key': o.apiKey,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 202) reject(new RestSubmitRefusal(res.statusCode ?? 0, text));
            else resolve((JSON.parse(text) as { job_id: string }).job_id);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  return {
    submit: async (i) => {
      const id = await post(JSON.stringify({ topic: o.topic, input: o.input(i) }));
      indexOf.set(id, i);
      if (early.delete(id)) done?.(i);
    },
    onDone: (cb) => {
      done = cb;
    },
    // Gateway job ids are unique anyway; a new phase only forgets the old one's ids.
    usePrefix: () => {
      indexOf = new Map();
      early = new Set();
    },
    close: async () => {
      clearInterval(beat);
      ws.close();
      agent.destroy();
    },
  };
}
