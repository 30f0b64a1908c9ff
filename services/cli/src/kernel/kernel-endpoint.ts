import { resolve } from 'node:path';
import { DEFAULT_DEV_DIR, DEFAULT_PORTS } from '@capstan/config';
import { readDevInfo } from '../dev/dev-info.js';
import { UsageError } from '../usage-error.js';

/** Environment variables naming the safety kernel, in priority order (the scheduler reads the same ones). */
export const KERNEL_URL_ENV = ['CAPSTAN_SAFETY_KERNEL_URL', 'SAFETY_KERNEL_URL'] as const;

/** Name of the safety kernel in `capstan dev`'s service list (and so in `dev.json`). */
export const SAFETY_KERNEL_DEV_SERVICE = 'safety-kernel';

/** URL of a safety kernel when nothing names one: the default port on loopback. */
export const DEFAULT_KERNEL_URL = `http://127.0.0.1:${DEFAULT_PORTS.safetyKernel}`;

/** The safety kernel a command talks to, and where that URL came from (said in errors). */
export interface KernelEndpoint {
  /** Base URL, e.g. `http://127.0.0.1:50051`. */
  url: string;
  /** Where the URL came from: `--kernel`, an environment variable, `.capstan/dev.json` or `default`. */
  source: string;
}

/** Where {@link resolveKernelEndpoint} looks. */
export interface ResolveKernelEndpointOptions {
  /** The `--kernel` flag's value. */
  flag?: string | undefined;
  /**
   * Environment to read.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Directory whose `.capstan/dev.json` describes a running `capstan dev`.
   * @default process.cwd()
   */
  cwd?: string;
}

/** Checks that `raw` is an http(s) base URL; the message names `source`. */
export function parseKernelUrl(raw: string, source: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    url = new URL('invalid:');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    throw new UsageError(
      `${source} ${JSON.stringify(raw)} is invalid: expected the safety kernel's http:// URL, such as ${DEFAULT_KERNEL_URL}`,
    );
  }
  return raw.replace(/\/+$/, '');
}

/**
 * Finds the safety kernel: `--kernel`, else `CAPSTAN_SAFETY_KERNEL_URL` / `SAFETY_KERNEL_URL`, else the kernel of
 * the `capstan dev` running in this directory (`.capstan/dev.json`), else the default port on loopback.
 */
export function resolveKernelEndpoint(options: ResolveKernelEndpointOptions = {}): KernelEndpoint {
  const env = options.env ?? process.env;
  if (options.flag !== undefined) return { url: parseKernelUrl(options.flag, '--kernel'), source: '--kernel' };
  for (const name of KERNEL_URL_ENV) {
    const value = env[name];
    if (value) return { url: parseKernelUrl(value, name), source: name };
  }
  const devDir = resolve(options.cwd ?? process.cwd(), env['CAPSTAN_DEV_DIR'] || DEFAULT_DEV_DIR);
  const dev = readDevInfo(devDir)?.services?.[SAFETY_KERNEL_DEV_SERVICE]?.['url'];
  if (dev) return { url: parseKernelUrl(dev, `${devDir}/dev.json`), source: `${devDir}/dev.json` };
  return { url: DEFAULT_KERNEL_URL, source: 'default' };
}
