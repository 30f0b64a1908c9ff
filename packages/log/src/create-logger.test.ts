import { describe, expect, it } from 'vitest';
import { createLogger } from './create-logger.js';
import { LoggerOptionsError } from './logger-options.js';

/** Collects what a logger writes so tests can read it back. */
function capture(): { destination: { write(line: string): void }; lines: string[] } {
  const lines: string[] = [];
  return { destination: { write: (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)) }, lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line with service, label level and ISO time', () => {
    const out = capture();
    const logger = createLogger({ service: 'scheduler', destination: out.destination });
    logger.info({ topic: 'job.echo' }, 'dispatched');
    expect(out.lines).toHaveLength(1);
    const line = JSON.parse(out.lines[0]!);
    expect(line).toMatchObject({ level: 'info', service: 'scheduler', topic: 'job.echo', msg: 'dispatched' });
    expect(line.pid).toBe(process.pid);
    expect(new Date(line.time).toISOString()).toBe(line.time);
  });

  it('defaults to info and honours a lower level when asked', () => {
    const quiet = capture();
    createLogger({ service: 'a', destination: quiet.destination }).debug('hidden');
    expect(quiet.lines).toEqual([]);

    const verbose = capture();
    createLogger({ service: 'a', level: 'debug', destination: verbose.destination }).debug('shown');
    expect(JSON.parse(verbose.lines[0]!)).toMatchObject({ level: 'debug', msg: 'shown' });
  });

  it('writes nothing at level silent', () => {
    const out = capture();
    createLogger({ service: 'a', level: 'silent', destination: out.destination }).fatal('nope');
    expect(out.lines).toEqual([]);
  });

  it('prints human-readable lines in pretty mode', () => {
    const out = capture();
    createLogger({ service: 'gateway', pretty: true, destination: out.destination }).warn('slow start');
    const text = out.lines.join('\n');
    expect(text).toContain('WARN');
    expect(text).toContain('slow start');
    expect(text).toContain('gateway');
    expect(() => JSON.parse(out.lines[0]!)).toThrow();
  });

  it('rejects an unknown level and names the expected values', () => {
    expect(() => createLogger({ service: 'a', level: 'loud' as never })).toThrow(LoggerOptionsError);
    expect(() => createLogger({ service: 'a', level: 'loud' as never })).toThrow(/"loud".*fatal, error, warn, info/);
  });

  it('rejects an empty service name', () => {
    expect(() => createLogger({ service: ' ' })).toThrow(/"service" must be a non-empty string/);
  });
});
