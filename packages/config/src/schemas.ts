import { LOG_LEVELS } from '@capstan/log';
import { z } from 'zod';

/** A TCP port; 0 asks the OS for any free port. */
export const portSchema = z
  .number({ error: 'not a number' })
  .int('not a whole number')
  .min(0, 'below 0')
  .max(65_535, 'above 65535');

/** Builds a schema for one URL whose scheme must be one of `protocols` (without the colon). */
export function urlSchema(protocols: readonly string[]): z.ZodType<string> {
  return z.string({ error: 'not a string' }).superRefine((value, ctx) => {
    const problem = checkUrl(value, protocols);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** A comma-separated list of NATS server URLs (`nats://`, `tls://`, `ws://`, `wss://`), as nats.js accepts. */
export const natsUrlSchema: z.ZodType<string> = z.string({ error: 'not a string' }).superRefine((value, ctx) => {
  for (const part of value.split(',')) {
    const problem = checkUrl(part.trim(), ['nats', 'tls', 'ws', 'wss']);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }
});

/** `redis://` or `rediss://` (TLS) URL. */
export const redisUrlSchema = urlSchema(['redis', 'rediss']);

/**
 * Database location: a `postgres://`/`postgresql://` URL, `pglite://<dir>`, `pglite:memory`, or the empty string
 * for the embedded PGlite database under `.capstan/pglite`.
 */
export const databaseUrlSchema: z.ZodType<string> = z.string({ error: 'not a string' }).superRefine((value, ctx) => {
  if (value === '' || value === 'pglite:memory') return;
  if (value.startsWith('pglite://')) {
    if (value.length === 'pglite://'.length) ctx.addIssue({ code: 'custom', message: 'pglite:// needs a directory' });
    return;
  }
  const problem = checkUrl(value, ['postgres', 'postgresql']);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** An http(s) endpoint, or empty for the provider's default (AWS). */
export const s3EndpointSchema: z.ZodType<string> = z.string({ error: 'not a string' }).superRefine((value, ctx) => {
  if (value === '') return;
  const problem = checkUrl(value, ['http', 'https']);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** An S3 bucket name (3–63 lowercase letters, digits, dots and hyphens, starting and ending alphanumeric). */
export const bucketNameSchema = z
  .string({ error: 'not a string' })
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name');

/** A list of S3 bucket names. */
export const bucketListSchema = z.array(bucketNameSchema, { error: 'not a list' });

/** A pino log level. */
export const logLevelSchema = z.enum(LOG_LEVELS, { error: 'not a known level' });

/** A host name or IP address to bind to. */
export const hostSchema = z
  .string({ error: 'not a string' })
  .regex(/^[A-Za-z0-9.:[\]-]+$/, 'not a host name or IP address');

/** Returns why `value` is not a URL with one of the given schemes, or undefined when it is. */
function checkUrl(value: string, protocols: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${JSON.stringify(value)} is not a URL`;
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!protocols.includes(scheme))
    return `scheme "${scheme}:" is not one of ${protocols.map((p) => `${p}:`).join(', ')}`;
  if (url.hostname === '') return 'the URL has no host';
  return undefined;
}
