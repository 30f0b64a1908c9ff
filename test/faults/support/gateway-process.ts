import { freePort } from '@capstan/testkit';
import { type CapstanProcess, FaultProcessError, spawnCapstanProcess, waitForProcess } from './capstan-process.js';

/** Options of {@link startGatewayProcess}. */
export interface GatewayProcessOptions {
  /** Process and log name, e.g. `gateway-a`. */
  name: string;
  /** NATS URL(s), comma-separated (CAPSTAN_NATS_URL). */
  natsUrl: string;
  redisUrl: string;
  /** A database the fault stack migrated (the gateway needs migration 0004-gateway and does not migrate). */
  databaseUrl: string;
  runDir: string;
  /** Extra CAPSTAN_* settings (body limit, rate limits...). @default {} */
  env?: Record<string, string>;
}

/** The gateway deployable (`services/gateway/src/main.ts`) in its own process. */
export interface GatewayProcess extends CapstanProcess {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /**
   * Registers a new organization and its owner (`POST /v1/auth/register`, the CACP flow `capstan dev` uses) and
   * returns the owner's JWT, a credential for every `/v1` route.
   */
  registerOwner(email: string): Promise<string>;
}

/**
 * Starts one gateway replica the way it is deployed — `node services/gateway/src/main.ts` configured by env
 * (docs/gateway.md) — and waits until `/ready` says the database, NATS and Redis answer.
 */
export async function startGatewayProcess(opts: GatewayProcessOptions): Promise<GatewayProcess> {
  const port = await freePort();
  const p = await spawnCapstanProcess({
    name: opts.name,
    entry: 'services/gateway/src/main.ts',
    runDir: opts.runDir,
    env: {
      CAPSTAN_NATS_URL: opts.natsUrl,
      CAPSTAN_REDIS_URL: opts.redisUrl,
      CAPSTAN_DATABASE_URL: opts.databaseUrl,
      CAPSTAN_GATEWAY_PORT: String(port),
      CAPSTAN_GATEWAY_METRICS_PORT: '0',
      CAPSTAN_LISTEN_HOST: '127.0.0.1',
      CAPSTAN_GATEWAY_ID: opts.name,
      CAPSTAN_LOG_LEVEL: process.env['FAULTS_LOG_LEVEL'] ?? 'info',
      ...opts.env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForProcess(p, 'ready /ready', async () => (await fetch(`${url}/ready`)).ok, 30_000);
  } catch (err) {
    await p.kill();
    throw err;
  }
  return {
    ...p,
    url,
    async registerOwner(email) {
      const res = await fetch(`${url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          organization_name: 'Fault suite',
          user_name: 'Fault Owner',
          email,
          password: 'fault-suite-password-1',
        }),
      });
      const body = (await res.json()) as { token?: string };
      if (res.status !== 201 || !body.token)
        throw new FaultProcessError(
          `${opts.name}: POST /v1/auth/register answered ${res.status} ${JSON.stringify(body)}; expected 201 with a token`,
        );
      return body.token;
    },
  };
}
