// The ceiling for gateway-http: a bare fastify hello-world in its own process (same runtime, same machine).
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
const url = await app.listen({ host: '127.0.0.1', port: Number(process.env['PORT'] ?? 0) });
process.send?.({ ready: url });
process.on('message', (m) => {
  if ((m as { stop?: boolean }).stop) void app.close().then(() => process.exit(0));
});
