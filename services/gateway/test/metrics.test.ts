import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
let api: ApiCall;
beforeAll(async () => {
  gw = await startTestGateway();
  api = apiClient(gw.url);
});
afterAll(async () => {
  await gw?.stop();
});

/** The value of one series in a Prometheus text exposition, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('gateway metrics (CAPSTAN_GATEWAY_METRICS_PORT)', () => {
  it('serves /metrics and /healthz on their own port: requests by route pattern and status, credential lookups, streams', async () => {
    const metricsUrl = gw.service.metricsUrl;
    expect(new URL(metricsUrl).port).not.toBe(new URL(gw.url).port);
    const org = await registerOrg(api, 'metrics');
    const key = await createKey(api, org.token);
    for (let i = 0; i < 3; i++) expect((await api('GET', '/v1/agents', { key: key.key })).status).toBe(200);
    expect((await api('GET', '/v1/agents/no-such-agent', { key: key.key })).status).toBe(404);
    expect((await api('GET', '/v1/definitely/not/a/route')).status).toBe(404);

    const health = await fetch(`${metricsUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const res = await fetch(`${metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();

    expect(sample(text, 'capstan_gateway_http_requests_total', { route: '/v1/agents', status: '200' })).toBe(3);
    // A pattern, not the URL: one series for every agent id.
    expect(sample(text, 'capstan_gateway_http_requests_total', { route: '/v1/agents/:id', status: '404' })).toBe(1);
    expect(sample(text, 'capstan_gateway_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(text).not.toContain('no-such-agent');
    expect(
      sample(text, 'capstan_gateway_http_request_duration_seconds_count', { method: 'GET', route: '/v1/agents' }),
    ).toBe(3);
    // The key was read once, then served from the credential cache.
    expect(sample(text, 'capstan_gateway_credential_lookups_total', { result: 'cached' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'capstan_gateway_credential_lookups_total', { result: 'read' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'capstan_gateway_streams_open', { kind: 'websocket' })).toBe(0);
    expect(sample(text, 'capstan_gateway_audit_write_failures_total')).toBe(0);
    // Node's process metrics and the bus counters share the registry.
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('capstan_bus_packets_received_total');
    expect((await fetch(`${metricsUrl}/nope`)).status).toBe(404);
  });
});
