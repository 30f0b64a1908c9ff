import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { testServices } from './test-services.js';

describe('testServices (provided by the vitest global setup)', () => {
  it('gives working NATS (with JetStream), Redis and PostgreSQL URLs', async () => {
    const { natsUrl, redisUrl, databaseUrl } = testServices();

    const nc = await connect({ servers: natsUrl });
    expect(nc.info?.jetstream).toBe(true);
    await nc.close();

    const redis = new Redis(redisUrl);
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
    expect(rows).toEqual([{ one: 1 }]);
    await client.end();
  });
});
