import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ServerHandle, startRedis } from '@capstan/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
let server: ServerHandle;
let dir: string;

beforeAll(async () => {
  server = await startRedis();
  dir = await mkdtemp(path.join(tmpdir(), 'capstan-pointers-readme-'));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('the README usage example runs against a real redis-server', async () => {
  const readme = await readFile(path.join(here, '..', 'README.md'), 'utf8');
  const block = /<!-- readme-example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- readme-example:end -->/.exec(readme);
  expect(block, 'README.md must keep the marked usage example').not.toBeNull();
  // Import this package from source instead of by name; everything else runs as written.
  const code = block![1]!.replace(
    "'@capstan/pointers'",
    JSON.stringify(pathToFileURL(path.join(here, 'index.ts')).href),
  );
  const file = path.join(dir, 'readme-example.ts');
  await writeFile(file, code);

  vi.stubEnv('REDIS_URL', server.url);
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  let logged: unknown[][];
  try {
    await import(pathToFileURL(file).href);
  } finally {
    logged = [...log.mock.calls];
    log.mockRestore();
  }
  const result = JSON.stringify({ summary: 'done: Summarise the incident report' });
  expect(logged).toEqual([['redis://res:job-42', result.length, createHash('sha256').update(result).digest('hex')]]);

  const raw = new Redis(server.url);
  try {
    // What a CAP worker would see: raw JSON under the CAP keys.
    expect(JSON.parse((await raw.get('ctx:job-42'))!)).toEqual({ prompt: 'Summarise the incident report' });
    expect(JSON.parse((await raw.get('res:job-42'))!)).toEqual({ summary: 'done: Summarise the incident report' });
    expect(await raw.pttl('res:job-42')).toBeGreaterThan(0);
  } finally {
    await raw.quit();
  }
});
