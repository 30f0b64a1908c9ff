// The footprint floor: a process that loads nothing and waits, under the same loader as the other bench processes.
import { serveRunner } from '../lib/proc-ipc.js';

process.send?.({ ready: true });
const keepAlive = setInterval(() => {}, 60_000);
serveRunner(async () => clearInterval(keepAlive));
