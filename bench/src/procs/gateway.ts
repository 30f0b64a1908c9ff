// A gateway replica in its own process, for benchmarks: env NATS_URL, REDIS_URL, DATABASE_URL (+ any CAPSTAN_GATEWAY_*).
import { loadConfig } from '@capstan/config';
import { gatewayConfigSpec, startGatewayService } from '@capstan/gateway-service';
import { serveRunner } from '../lib/proc-ipc.js';

const config = loadConfig(gatewayConfigSpec, {
  env: {
    ...process.env,
    CAPSTAN_NATS_URL: process.env['NATS_URL'],
    CAPSTAN_REDIS_URL: process.env['REDIS_URL'],
    CAPSTAN_DATABASE_URL: process.env['DATABASE_URL'],
    CAPSTAN_LISTEN_HOST: '127.0.0.1',
    CAPSTAN_GATEWAY_PORT: process.env['CAPSTAN_GATEWAY_PORT'] ?? '0',
    CAPSTAN_GATEWAY_METRICS_PORT: '0',
    CAPSTAN_LOG_LEVEL: 'warn',
    // The benchmarks measure the request path, not the limiter's 429s (the limiter still runs: one Redis call).
    CAPSTAN_GATEWAY_RATE_LIMIT: '10000000',
    CAPSTAN_GATEWAY_RATE_LIMIT_ANONYMOUS: '10000000',
  },
});
const service = await startGatewayService(config);
process.send?.({ ready: service.url });
serveRunner(() => service.stop());
