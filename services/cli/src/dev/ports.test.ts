import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { choosePort, findFreePort, isPortFree, PortInUseError } from './ports.js';

const HOST = '127.0.0.1';
const servers: Server[] = [];

/** Occupies a free port for the duration of a test. */
async function occupyPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as { port: number }).port;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('choosePort', () => {
  it('uses the preferred (default) port when it is free', async () => {
    const port = await findFreePort(HOST);
    expect(await choosePort({ host: HOST, preferred: port, variable: 'X' })).toBe(port);
  });

  it('falls back to another free port when the preferred one is taken', async () => {
    const busy = await occupyPort();
    const chosen = await choosePort({ host: HOST, preferred: busy, variable: 'X' });
    expect(chosen).not.toBe(busy);
    expect(await isPortFree(HOST, chosen)).toBe(true);
  });

  it('uses a configured port as is', async () => {
    const port = await findFreePort(HOST);
    expect(await choosePort({ host: HOST, configured: port, preferred: 1, variable: 'X' })).toBe(port);
  });

  it('refuses a configured port that is taken and names the variable', async () => {
    const busy = await occupyPort();
    const attempt = choosePort({ host: HOST, configured: busy, preferred: 1, variable: 'CAPSTAN_DEV_NATS_PORT' });
    await expect(attempt).rejects.toThrow(PortInUseError);
    await expect(attempt).rejects.toThrow(`CAPSTAN_DEV_NATS_PORT=${busy} but ${HOST}:${busy} is already in use`);
  });

  it('treats a configured 0 as "any free port"', async () => {
    const chosen = await choosePort({ host: HOST, configured: 0, preferred: 1, variable: 'X' });
    expect(chosen).toBeGreaterThan(0);
    expect(await isPortFree(HOST, chosen)).toBe(true);
  });
});
