import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** Where and what {@link startMetricsServer} serves. */
export interface MetricsServerOptions {
  host: string;
  /** 0 picks a free port (see `url`). */
  port: number;
  registry: Registry;
  /** Decides `/healthz`: true → 200, false or a rejection → 503. */
  healthy: () => Promise<boolean>;
  /** The setting that chooses the port (`CAPSTAN_GATEWAY_METRICS_PORT`), named in the error when it is taken. */
  portSetting?: string;
}

/** A running metrics listener. */
export interface MetricsServer {
  /** `http://host:port` actually bound. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus) and `/healthz` (200 when `healthy()` resolves true, else 503).
 * @throws {Error} naming the address (and `portSetting`) when the port cannot be bound.
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': opts.registry.contentType });
        res.end(await opts.registry.metrics());
      } else if (req.url === '/healthz') {
        const ok = await opts.healthy().catch(() => false);
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 404, message: 'not found: try /metrics or /healthz' } }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new Error(
          `Cannot serve metrics on ${opts.host}:${opts.port}: ${err.message}` +
            (opts.portSetting ? ` (set ${opts.portSetting} to a free port, or 0 for any)` : ''),
          { cause: err },
        ),
      ),
    );
    server.listen(opts.port, opts.host, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    url: `http://${opts.host}:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
