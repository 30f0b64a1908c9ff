import { createServer } from 'node:net';

/** Resolves true when nothing listens on `host:port` (checked by binding it briefly). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Asks the kernel for a free port on `host`. */
export function findFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => (port ? resolve(port) : reject(new Error(`could not read the port bound on ${host}`))));
    });
  });
}

/** Thrown when a port the operator configured explicitly is already taken. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
}

/** How {@link choosePort} should pick. */
export interface ChoosePortOptions {
  /** Interface to bind. */
  host: string;
  /** Port the operator configured (undefined = not configured; 0 = any free port). Used as is, never replaced. */
  configured?: number | undefined;
  /** Port to use when not configured and free (the documented default, e.g. 4222 for NATS). */
  preferred: number;
  /** Config variable named in the error when a configured port is taken. */
  variable: string;
}

/**
 * Picks the port a dev server listens on: the configured one (must be free), else the default when it is free,
 * else any free port — so `capstan dev` starts even when another NATS or Redis already uses the default port.
 */
export async function choosePort(options: ChoosePortOptions): Promise<number> {
  const { host, configured, preferred, variable } = options;
  if (configured === 0) return findFreePort(host);
  if (configured !== undefined) {
    if (await isPortFree(host, configured)) return configured;
    throw new PortInUseError(
      `${variable}=${configured} but ${host}:${configured} is already in use; ` +
        `expected a free port, or unset ${variable} to let capstan dev pick one`,
    );
  }
  return (await isPortFree(host, preferred)) ? preferred : findFreePort(host);
}
