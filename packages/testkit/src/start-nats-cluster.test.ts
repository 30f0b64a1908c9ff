import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { startNatsCluster } from './start-nats-cluster.js';

describe('startNatsCluster', () => {
  it('forms a 3-node JetStream cluster that hosts an R3 stream and survives a node restart', {
    timeout: 60_000,
  }, async () => {
    const cluster = await startNatsCluster();
    try {
      expect(cluster.urls).toHaveLength(3);
      expect(new Set(cluster.nodes.map((node) => node.serverName)).size).toBe(3);

      const nc = await connect({ servers: cluster.urls });
      const jsm = await jetstreamManager(nc);
      const created = await jsm.streams.add({ name: 'R3', subjects: ['r3.>'], num_replicas: 3 });
      expect(created.config.num_replicas).toBe(3);
      expect(created.cluster?.leader).toBeTruthy();
      expect(created.cluster?.replicas).toHaveLength(2);
      await jetstream(nc).publish('r3.a', 'one');

      await cluster.nodes[2]!.restart();
      // If the restarted node led the stream, a new leader is elected first: publishes time out until then.
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await jetstream(nc).publish('r3.a', 'two', { msgID: 'two', timeout: 2000 });
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
        }
      }
      const info = await jsm.streams.info('R3');
      expect(info.state.messages).toBe(2);
      await nc.close();
    } finally {
      await cluster.stop();
    }
  });

  it('rejects an invalid size', async () => {
    await expect(startNatsCluster({ size: 0 })).rejects.toThrow(
      /size: invalid value 0; expected an integer from 1 to 9/,
    );
  });
});
