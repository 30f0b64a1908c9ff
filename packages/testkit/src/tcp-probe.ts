import { connect } from 'node:net';

/**
 * Opens a TCP connection to 127.0.0.1:`port`, optionally writes `send`, and resolves with whatever the server
 * sends until `until` matches the accumulated text (or the connection closes). Used as a readiness probe that
 * needs no client library.
 */
export function tcpExchange(
  port: number,
  options: { send?: string; until: (received: string) => boolean; timeoutMs?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const finish = (error?: Error) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(received);
    };
    socket.setTimeout(options.timeoutMs ?? 2_000, () => finish(new Error(`no answer from 127.0.0.1:${port}`)));
    socket.once('error', finish);
    socket.once('connect', () => {
      if (options.send !== undefined) socket.write(options.send);
    });
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      if (options.until(received)) finish();
    });
    socket.once('end', () => finish());
  });
}
