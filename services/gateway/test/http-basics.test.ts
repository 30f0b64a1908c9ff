import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.stop();
});

describe('gateway HTTP basics', () => {
  it('serves /health unauthenticated in the CACP shape', async () => {
    const res = await fetch(`${gw.url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; timestamp: number };
    expect(body.status).toBe('ok');
    expect(Math.abs(body.timestamp - Date.now())).toBeLessThan(10_000);
    expect(res.headers.get('x-trace-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('reports readiness of database, NATS and Redis', async () => {
    const res = await fetch(`${gw.url}/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', nats: 'ok', redis: 'ok' } });
  });

  it('answers unknown routes with 404 and code 1001 in the error shape', async () => {
    const res = await fetch(`${gw.url}/v1/nope`, { headers: { 'x-trace-id': 'a'.repeat(32) } });
    expect(res.status).toBe(404);
    const body = await res.json();
    expect(body).toEqual({
      error: { code: 1001, message: expect.stringContaining('GET /v1/nope'), details: [], trace_id: 'a'.repeat(32) },
    });
  });

  it('serves the OpenAPI 3.1 document and a local API reference page', async () => {
    const res = await fetch(`${gw.url}/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/health');
    const page = await fetch(`${gw.url}/docs/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('swagger');
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)[a-z]/i);
  });
});
