import http2 from 'node:http2';
import net from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type MultiProtocolServer, startMultiProtocolServer } from './multi-protocol-server.js';

const logger = pino({ level: 'silent' });
// The handler echoes the protocol version and body, so each test sees which server took the connection.
const handler = ((req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
  let body = '';
  req.on('data', (d: Buffer) => {
    body += d.toString();
  });
  req.on('end', () => {
    if (req.url === '/slow') {
      setTimeout(() => res.end(`slow ${req.httpVersion}`), 200);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${req.httpVersion} ${req.method} ${req.url} ${body}`);
  });
}) as unknown as Parameters<typeof startMultiProtocolServer>[0]['handler'];

let server: MultiProtocolServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function h2Request(url: string, path: string, body = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', reject);
    const req = session.request({ ':path': path, ':method': 'POST' });
    let out = '';
    req.on('data', (d: Buffer) => {
      out += d.toString();
    });
    req.on('end', () => {
      session.close();
      resolve(out);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => {
      out += d.toString('latin1');
    });
    socket.on('error', () => resolve(out));
    socket.on('close', () => resolve(out));
    socket.write(bytes);
    setTimeout(() => socket.end(), 100);
  });
}

describe('startMultiProtocolServer', () => {
  it('serves HTTP/1.1 and prior-knowledge HTTP/2 on one port', async () => {
    server = await startMultiProtocolServer({ host: '127.0.0.1', port: 0, handler, logger });
    const h1 = await fetch(`${server.url}/one`, { method: 'POST', body: 'hello' });
    expect(await h1.text()).toBe('1.1 POST /one hello');
    expect(await h2Request(server.url, '/two', 'world')).toBe('2.0 POST /two world');
    // Two HTTP/1 requests on one keep-alive connection, sent in one write (pipelined).
    const pipelined = await rawExchange(
      server.port,
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(pipelined).toContain('1.1 GET /a');
    expect(pipelined).toContain('1.1 GET /b');
  });

  it('survives garbage, truncated prefaces and resets, and keeps serving', async () => {
    server = await startMultiProtocolServer({ host: '127.0.0.1', port: 0, handler, logger });
    expect(await rawExchange(server.port, Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]))).toContain('400');
    await rawExchange(server.port, 'PRI * HTTP/2.0\r\n'); // half a preface, then the client hangs up
    await rawExchange(server.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nnot-a-frame-at-all-xxxxxxxxxxxxxxxx');
    const reset = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => reset.once('connect', r));
    reset.resetAndDestroy();
    expect(await h2Request(server.url, '/still', 'up')).toBe('2.0 POST /still up');
    expect(await (await fetch(`${server.url}/still`)).text()).toBe('1.1 GET /still ');
  });

  it('closes gracefully: in-flight requests finish, new connections are refused', async () => {
    server = await startMultiProtocolServer({ host: '127.0.0.1', port: 0, handler, logger });
    const url = server.url;
    const slow1 = fetch(`${url}/slow`).then((r) => r.text());
    const slow2 = h2Request(url, '/slow');
    await new Promise((r) => setTimeout(r, 50));
    const closing = server.close();
    expect(await slow1).toBe('slow 1.1');
    expect(await slow2).toBe('slow 2.0');
    await closing;
    server = undefined;
    await expect(fetch(`${url}/after`)).rejects.toThrow();
  });
});
