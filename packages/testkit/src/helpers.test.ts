import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MissingBinaryError } from './errors.js';
import { findBinary } from './find-binary.js';
import { freePort } from './free-port.js';
import { renderNatsConfig } from './nats-config.js';
import { uniqueName } from './unique-name.js';

describe('freePort', () => {
  it('returns a loopback port that can be bound', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1024);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('uniqueName', () => {
  it('prefixes, never repeats, and stays within NATS/Postgres-safe characters', () => {
    const names = Array.from({ length: 200 }, () => uniqueName('orders'));
    expect(new Set(names).size).toBe(200);
    for (const name of names) expect(name).toMatch(/^orders_[a-z0-9_]+$/);
  });

  it('rejects prefixes that would break a subject or identifier', () => {
    expect(() => uniqueName('a.b')).toThrow(/invalid prefix "a.b"/);
    expect(() => uniqueName('')).toThrow(/expected letters, digits and "_"/);
  });
});

describe('findBinary', () => {
  it('finds nats-server and PostgreSQL binaries outside PATH', () => {
    expect(findBinary('nats-server', { aptPackage: 'nats-server' })).toMatch(/\/nats-server$/);
    expect(findBinary('initdb', { aptPackage: 'postgresql', postgres: true })).toMatch(/postgresql\/\d+\/bin\/initdb$/);
  });

  it('names the apt package when a binary is missing', () => {
    const find = () => findBinary('no-such-server-binary', { aptPackage: 'no-such-package' });
    expect(find).toThrow(MissingBinaryError);
    expect(find).toThrow(/apt-get install -y no-such-package/);
  });
});

describe('renderNatsConfig', () => {
  it('renders loopback listeners, JetStream and cluster routes', () => {
    const text = renderNatsConfig({
      serverName: 'n0',
      port: 1000,
      monitorPort: 1001,
      jetstream: true,
      storeDir: '/tmp/x',
      maxPayload: 2048,
      cluster: { name: 'c', port: 1002, routePorts: [2002, 3002] },
    });
    expect(text).toContain('listen: "127.0.0.1:1000"');
    expect(text).toContain('http: "127.0.0.1:1001"');
    expect(text).toContain('max_payload: 2048');
    expect(text).toContain('store_dir: "/tmp/x"');
    expect(text).toContain('routes: ["nats://127.0.0.1:2002", "nats://127.0.0.1:3002"]');
  });
});
