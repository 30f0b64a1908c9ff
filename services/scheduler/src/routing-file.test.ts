import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseRoutingFile, RoutingFileError, watchRoutingFile } from './routing-file.js';

describe('routing file', () => {
  it('parses pools, topics with wildcards and defaults', () => {
    const cfg = parseRoutingFile(
      `pools:\n  gpu:\n    requires: [cuda]\ntopics:\n  job.ml.*:\n    pool: gpu\n    max_retries: 1\ndefaults:\n  running_timeout_ms: 60000\n`,
      'routes.yaml',
    );
    expect(cfg).toEqual({
      pools: { gpu: { requires: ['cuda'] } },
      topics: { 'job.ml.*': { pool: 'gpu', maxRetries: 1 } },
      defaults: { maxRetries: 3, dispatchTimeoutMs: 30_000, runningTimeoutMs: 60_000 },
    });
  });

  it('reports the file, line and column of a wrong value', () => {
    try {
      parseRoutingFile(`topics:\n  job.echo:\n    max_retries: lots\n`, 'routes.yaml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RoutingFileError);
      expect((err as Error).message).toMatch(/routes\.yaml:3:18: topics\.job\.echo\.max_retries: .*number/);
    }
  });

  it('rejects unknown keys and bad topic patterns', () => {
    expect(() => parseRoutingFile(`topics:\n  job.echo:\n    pol: x\n`, 'r.yaml')).toThrow(/Unrecognized key.*pol/);
    expect(() => parseRoutingFile(`topics:\n  echo:\n    pool: x\n`, 'r.yaml')).toThrow(/topic keys are job subjects/);
    expect(() => parseRoutingFile(`topics: [`, 'r.yaml')).toThrow(/r\.yaml:1:\d+: invalid YAML/);
  });

  it('reloads live and keeps the last good routes on a bad edit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'routes-'));
    const file = join(dir, 'routes.yaml');
    await writeFile(file, `topics:\n  job.echo:\n    pool: a\n`);
    const live = await watchRoutingFile(file, pino({ level: 'silent' }));
    expect(live.table().route('job.echo').pool).toBe('a');
    // Editors write a temp file and rename it over the original.
    await writeFile(join(dir, 'tmp'), `topics:\n  job.echo:\n    pool: b\n`);
    await rename(join(dir, 'tmp'), file);
    await expect.poll(() => live.table().route('job.echo').pool, { timeout: 5000 }).toBe('b');
    await writeFile(file, `topics:\n  job.echo:\n    pool: 7\n`);
    await new Promise((r) => setTimeout(r, 2500));
    expect(live.table().route('job.echo').pool).toBe('b');
    live.close();
  });
});
