import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, testServices } from '@capstan/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli } from './spawn-cli.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempCwd(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-migrate-e2e-'));
  dirs.push(dir);
  return dir;
}

/**
 * Parses `Applied N migration(s) to <where>:` followed by one name per line, checking that N matches the list.
 * Names are not hard-coded: @capstan/store adds migrations over time.
 */
function appliedNames(stdout: string, where: string): string[] {
  const [header, ...lines] = stdout.trimEnd().split('\n');
  const names = lines.map((line) => line.trim());
  expect(header).toBe(`Applied ${names.length} migration(s) to ${where}:`);
  for (const name of names) expect(name).toMatch(/^\d{4}-[a-z0-9-]+$/);
  return names;
}

// Each run opens an embedded PGlite database, which takes seconds on a loaded machine.
describe('capstan migrate', { timeout: 90_000 }, () => {
  it('migrates the embedded PGlite database in .capstan/pglite, then finds it up to date', async () => {
    const cwd = tempCwd();
    const where = `pglite://${join(cwd, '.capstan', 'pglite')} (pglite)`;

    const first = await runCli(['migrate'], { cwd });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const applied = appliedNames(first.stdout, where);
    expect(applied[0]).toBe('0001-bus-dead-letters');

    const second = await runCli(['migrate'], { cwd });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`Database ${where} is up to date; no migrations to run.\n`);

    // --status lists exactly the migrations that ran, each with the time it ran.
    const status = await runCli(['migrate', '--status'], { cwd });
    expect(status.code).toBe(0);
    const [header, ...rows] = status.stdout.trimEnd().split('\n');
    expect(header).toBe(`Migrations of ${where}:`);
    expect(rows.map((row) => row.trim().split(/\s+/)[0])).toEqual(applied);
    for (const row of rows) expect(row).toMatch(/ {2}applied \d{4}-\d\d-\d\dT/);
  });

  it('takes the database from --database-url, which beats DATABASE_URL', async () => {
    const cwd = tempCwd();
    const dir = join(cwd, 'elsewhere');
    const result = await runCli(['migrate', '--database-url', `pglite://${dir}`], {
      cwd,
      env: cliEnv({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }),
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(appliedNames(result.stdout, `pglite://${dir} (pglite)`)).toContain('0001-bus-dead-letters');
  });

  it('migrates PostgreSQL named by DATABASE_URL', async () => {
    const database = await createTestDatabase(testServices().databaseUrl, 'capstan_cli_migrate');
    try {
      const cwd = tempCwd();
      const result = await runCli(['migrate'], { cwd, env: cliEnv({ DATABASE_URL: database.url }) });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const where = /^Applied \d+ migration\(s\) to (postgres:\/\/\S+) \(postgres\):/.exec(result.stdout)?.[1];
      expect(where).toContain(`/${database.name}`);
      expect(appliedNames(result.stdout, `${where} (postgres)`)).toContain('0001-bus-dead-letters');

      const again = await runCli(['migrate'], { cwd, env: cliEnv({ DATABASE_URL: database.url }) });
      expect(again.stdout).toContain('is up to date; no migrations to run.');
    } finally {
      await database.drop();
    }
  });

  it('rejects a malformed URL naming the variable and the accepted forms, with the password masked', async () => {
    const result = await runCli(['migrate'], { cwd: tempCwd(), env: cliEnv({ DATABASE_URL: 'mysql://root:pw@db/x' }) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('capstan migrate: Invalid configuration (1 problem)');
    expect(result.stderr).toContain('DATABASE_URL="mysql://root:***@db/x" is invalid');
    expect(result.stderr).toContain('expected a postgres://user:pass@host:5432/db URL, pglite://<dir>, pglite:memory');
    expect(result.stderr).not.toContain('pw@');
  });

  it('says which server it could not reach', async () => {
    const result = await runCli(['migrate', '--database-url', 'postgres://capstan@127.0.0.1:1/capstan'], {
      cwd: tempCwd(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^capstan migrate: Cannot connect to PostgreSQL at postgres:\/\/capstan@127\.0\.0\.1:1\/capstan/,
    );
  });
});
