// The floor of dispatch-overhead: a raw NATS responder (no protobuf, no validation) in its own process that
// echoes every request on SUBJECT back to its reply subject. Env NATS_URL, SUBJECT.
import { connect } from '@nats-io/transport-node';
import { serveRunner } from '../lib/proc-ipc.js';

const nc = await connect({ servers: process.env['NATS_URL']! });
nc.subscribe(process.env['SUBJECT'] ?? 'bench.echo', {
  callback: (_e, m) => {
    m.respond(m.data);
  },
});
await nc.flush();
process.send?.({ ready: true });
serveRunner(() => nc.drain());
