import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { alertRuleMetrics, PROMETHEUS_DIR } from './prometheus-files.js';

const run = promisify(execFile);

// promtool comes with Debian's prometheus package, which `npm test` installs when missing (scripts/test.sh).
describe('deploy/prometheus', () => {
  it('is a valid Prometheus config whose alert rules pass promtool and their unit tests', async () => {
    const opts = { cwd: PROMETHEUS_DIR };
    expect((await run('promtool', ['check', 'config', 'prometheus.yml'], opts)).stdout).toMatch(/SUCCESS/);
    expect((await run('promtool', ['check', 'rules', 'capstan-alerts.yml'], opts)).stdout).toMatch(
      /SUCCESS: \d+ rules found/,
    );
    // Synthetic series → which alerts fire when (capstan-alerts.test.yml).
    expect((await run('promtool', ['test', 'rules', 'capstan-alerts.test.yml'], opts)).stdout).toMatch(/SUCCESS/);
  });

  it('alerts on Capstan metrics from every service', () => {
    const names = alertRuleMetrics();
    // That they exist is checked against the live services in dev-command.e2e.test.ts.
    for (const prefix of ['capstan_safety_kernel_', 'capstan_gateway_', 'capstan_bus_', 'capstan_dlq'])
      expect(
        names.some((n) => n.startsWith(prefix)),
        prefix,
      ).toBe(true);
  });
});
