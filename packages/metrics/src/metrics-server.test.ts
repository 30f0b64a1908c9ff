import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { startMetricsServer } from './metrics-server.js';

describe('startMetricsServer', () => {
  it('serves /metrics and /healthz, and names the setting to change when its port is taken', async () => {
    const registry = new Registry();
    let healthy = true;
    const first = await startMetricsServer({ host: '127.0.0.1', port: 0, registry, healthy: async () => healthy });
    try {
      expect((await fetch(`${first.url}/metrics`)).status).toBe(200);
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
      healthy = false;
      expect((await fetch(`${first.url}/healthz`)).status).toBe(503);
      const port = Number(new URL(first.url).port);
      await expect(
        startMetricsServer({
          host: '127.0.0.1',
          port,
          registry,
          healthy: async () => true,
          portSetting: 'CAPSTAN_X_METRICS_PORT',
        }),
      ).rejects.toThrow(
        `Cannot serve metrics on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port} (set CAPSTAN_X_METRICS_PORT to a free port, or 0 for any)`,
      );
    } finally {
      await first.close();
    }
  });
});
