import { describe, expect, it } from 'vitest';
import { runServiceMain } from './run-service-main.js';

class BadConfig extends Error {}

describe('runServiceMain', () => {
  it('prints an explained start error as it is and exits 1', async () => {
    const out: string[] = [];
    const codes: number[] = [];
    await runServiceMain({
      name: 'scheduler',
      load: () => {
        throw new BadConfig('CAPSTAN_NATS_URL: expected a nats:// URL');
      },
      start: async () => ({ stop: async () => {} }),
      explained: (e) => e instanceof BadConfig,
      exit: (c) => codes.push(c),
      report: (m) => out.push(m),
    });
    expect(out).toEqual(['CAPSTAN_NATS_URL: expected a nats:// URL']);
    expect(codes).toEqual([1]);
  });

  it('prefixes other start errors with the service name', async () => {
    const out: string[] = [];
    await runServiceMain({
      name: 'gateway',
      load: () => ({}),
      start: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
      explained: () => false,
      exit: () => {},
      report: (m) => out.push(m),
    });
    expect(out).toEqual(['gateway failed to start: connect ECONNREFUSED 127.0.0.1:5432']);
  });

  it('stops the service once on SIGTERM and exits 0', async () => {
    const codes: number[] = [];
    let stops = 0;
    const before = process.listeners('SIGTERM').length;
    await runServiceMain({
      name: 'kernel',
      load: () => ({}),
      start: async () => ({
        stop: async () => {
          stops++;
        },
      }),
      explained: () => false,
      exit: (c) => codes.push(c),
    });
    const added = process.listeners('SIGTERM').slice(before);
    expect(added).toHaveLength(1);
    for (const l of added) (l as () => void)();
    for (const l of added) (l as () => void)();
    await new Promise((r) => setTimeout(r, 10));
    expect([stops, codes]).toEqual([1, [0]]);
    for (const l of added) process.off('SIGTERM', l);
    for (const l of process.listeners('SIGINT').slice(-1)) process.off('SIGINT', l);
  });
});
