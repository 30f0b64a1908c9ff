import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../usage-error.js';
import { DEFAULT_KERNEL_URL, resolveKernelEndpoint } from './kernel-endpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-kernel-endpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A directory whose `.capstan/dev.json` names a dev kernel. */
function devDir(url: string): string {
  const cwd = mkdtempSync(join(dir, 'dev-'));
  mkdirSync(join(cwd, '.capstan'));
  writeFileSync(
    join(cwd, '.capstan', 'dev.json'),
    JSON.stringify({ pid: 1, services: { 'safety-kernel': { url } }, processes: {} }),
  );
  return cwd;
}

describe('resolveKernelEndpoint', () => {
  it('prefers --kernel, then the environment, then the running capstan dev, then the default port', () => {
    const cwd = devDir('http://127.0.0.1:51000');
    const env = { SAFETY_KERNEL_URL: 'http://kernel:50051/' };
    expect(resolveKernelEndpoint({ flag: 'http://flag:1', env, cwd })).toEqual({
      url: 'http://flag:1',
      source: '--kernel',
    });
    expect(resolveKernelEndpoint({ env, cwd })).toEqual({ url: 'http://kernel:50051', source: 'SAFETY_KERNEL_URL' });
    expect(resolveKernelEndpoint({ env: { CAPSTAN_SAFETY_KERNEL_URL: 'https://k', ...env }, cwd }).source).toBe(
      'CAPSTAN_SAFETY_KERNEL_URL',
    );
    expect(resolveKernelEndpoint({ env: {}, cwd })).toEqual({
      url: 'http://127.0.0.1:51000',
      source: join(cwd, '.capstan', 'dev.json'),
    });
    expect(resolveKernelEndpoint({ env: {}, cwd: dir })).toEqual({ url: DEFAULT_KERNEL_URL, source: 'default' });
  });

  it('rejects a URL that is not http(s), naming where it came from', () => {
    expect(() => resolveKernelEndpoint({ flag: 'localhost:50051', env: {} })).toThrow(UsageError);
    expect(() => resolveKernelEndpoint({ flag: 'localhost:50051', env: {} })).toThrow(
      /--kernel "localhost:50051" is invalid: expected the safety kernel's http:\/\/ URL/,
    );
    expect(() => resolveKernelEndpoint({ env: { SAFETY_KERNEL_URL: 'grpc://x' }, cwd: dir })).toThrow(
      /^SAFETY_KERNEL_URL "grpc:\/\/x" is invalid/,
    );
  });
});
