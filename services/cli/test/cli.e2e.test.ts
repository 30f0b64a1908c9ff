import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runCli } from './spawn-cli.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('capstan', () => {
  it('prints its version', async () => {
    const result = await runCli(['version'], { cwd: tmpdir() });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`capstan ${version} (node ${process.version})\n`);
    expect((await runCli(['--version'], { cwd: tmpdir() })).stdout).toBe(`${version}\n`);
  });

  it('lists its commands in --help', async () => {
    const result = await runCli(['--help'], { cwd: tmpdir() });
    expect(result.code).toBe(0);
    for (const command of ['dev', 'migrate', 'version', 'policy', 'approvals', 'safety-kernel', 'scheduler', 'gateway'])
      expect(result.stdout).toMatch(new RegExp(`^ {2}${command}\\b`, 'm'));
  });

  it('rejects an unknown command with a non-zero exit', async () => {
    const result = await runCli(['launch'], { cwd: tmpdir() });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("unknown command 'launch'");
  });
});
