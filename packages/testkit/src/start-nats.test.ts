import { existsSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { TestkitArgumentError } from './errors.js';
import type { NatsHandle } from './server-handle.js';
import { startNats } from './start-nats.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startNats', () => {
  let server: NatsHandle | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('starts a JetStream server on loopback that clients can use, and stop() kills it and removes its dir', async () => {
    server = await startNats();
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(existsSync(server.dataDir)).toBe(true);

    const nc = await connect({ servers: server.url });
    const sub = nc.subscribe('testkit.echo', { max: 1 });
    nc.publish('testkit.echo', 'hello');
    for await (const msg of sub) expect(msg.string()).toBe('hello');
    const info = await (await jetstreamManager(nc)).getAccountInfo();
    expect(info.streams).toBe(0);
    await nc.close();

    const { pid, dataDir } = server;
    await server.stop();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
    await server.stop(); // idempotent
  });

  it('keeps JetStream data across a graceful restart and a SIGKILL restart, on the same port', async () => {
    server = await startNats();
    const port = server.port;
    const firstPid = server.pid;
    const publish = async (count: number) => {
      const nc = await connect({ servers: server!.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'RESTART', subjects: ['restart.>'] }).catch(() => {});
      const js = jetstream(nc);
      for (let i = 0; i < count; i++) await js.publish('restart.x', `m${i}`);
      const { state } = await jsm.streams.info('RESTART');
      await nc.close();
      return state.messages;
    };
    expect(await publish(3)).toBe(3);

    await server.restart();
    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(firstPid);
    expect(await publish(1)).toBe(4);

    const secondPid = server.pid;
    await server.restart({ kill: true });
    expect(isAlive(secondPid)).toBe(false);
    expect(await publish(1)).toBe(5);
  });

  it('applies maxPayload and can run without JetStream', async () => {
    server = await startNats({ maxPayload: 4 * 1024 * 1024, jetstream: false });
    const nc = await connect({ servers: server.url });
    expect(nc.info?.max_payload).toBe(4 * 1024 * 1024);
    expect(nc.info?.jetstream ?? false).toBe(false);
    await nc.close();
  });

  it('rejects bad options with a message saying what is expected', async () => {
    await expect(startNats({ port: 70_000 })).rejects.toThrow(TestkitArgumentError);
    await expect(startNats({ port: 70_000 })).rejects.toThrow(/expected an integer from 1 to 65535/);
    await expect(startNats({ maxPayload: 0 })).rejects.toThrow(/maxPayload: invalid value 0/);
  });

  it('fails with the server log when nats-server cannot start', async () => {
    await expect(startNats({ extraArgs: ['--no-such-flag'] })).rejects.toThrow(/nats-server .* exited with code/);
  });
});
