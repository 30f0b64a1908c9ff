import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRoutingTable, type RoutingConfig, type RoutingTable } from '@capstan/jobs';
import { subjectPatternProblem } from '@capstan/protocol';
import type { Logger } from 'pino';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';

const limits = {
  max_retries: z.number().int().min(0).max(100).optional(),
  dispatch_timeout_ms: z.number().int().min(100).optional(),
  running_timeout_ms: z.number().int().min(100).optional(),
};

/** The routing file's schema (snake_case, like every Capstan YAML file). */
export const routingFileSchema = z
  .object({
    pools: z.record(z.string(), z.object({ requires: z.array(z.string()).optional() }).strict()).optional(),
    topics: z
      .record(z.string(), z.object({ pool: z.string().min(1).optional(), ...limits }).strict())
      .superRefine((topics, ctx) => {
        for (const key of Object.keys(topics)) {
          if (!key.startsWith('job.') || subjectPatternProblem(key) || !/^[A-Za-z0-9_\-:.*>]+$/.test(key)) {
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `topic keys are job subjects like job.echo, job.chat.* or job.batch.>, not ${JSON.stringify(key)}`,
            });
          }
        }
      })
      .optional(),
    defaults: z.object(limits).strict().optional(),
  })
  .strict();

/** Thrown when the routing file is invalid; the message names the file, line and column and what was expected. */
export class RoutingFileError extends Error {
  override name = 'RoutingFileError';
}

/** Parses and validates routing YAML into a RoutingConfig. */
export function parseRoutingFile(text: string, file: string): RoutingConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw new RoutingFileError(`${file}:${pos.line}:${pos.col}: invalid YAML: ${e.message}`);
  }
  const parsed = routingFileSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const node = doc.getIn(i.path as (string | number)[], true) as { range?: [number, number] } | undefined;
      const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
      return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${i.path.join('.') || '(root)'}: ${i.message}`;
    });
    throw new RoutingFileError(`invalid routing file:\n  ${problems.join('\n  ')}`);
  }
  const v = parsed.data;
  const toRoute = (r: {
    pool?: string | undefined;
    max_retries?: number | undefined;
    dispatch_timeout_ms?: number | undefined;
    running_timeout_ms?: number | undefined;
  }) => ({
    ...(r.pool ? { pool: r.pool } : {}),
    ...(r.max_retries !== undefined ? { maxRetries: r.max_retries } : {}),
    ...(r.dispatch_timeout_ms !== undefined ? { dispatchTimeoutMs: r.dispatch_timeout_ms } : {}),
    ...(r.running_timeout_ms !== undefined ? { runningTimeoutMs: r.running_timeout_ms } : {}),
  });
  const defaults = v.defaults ? toRoute(v.defaults) : {};
  return {
    ...(v.pools
      ? {
          pools: Object.fromEntries(
            Object.entries(v.pools).map(([k, p]) => [k, p.requires ? { requires: p.requires } : {}]),
          ),
        }
      : {}),
    ...(v.topics ? { topics: Object.fromEntries(Object.entries(v.topics).map(([k, r]) => [k, toRoute(r)])) } : {}),
    ...(v.defaults
      ? { defaults: { maxRetries: 3, dispatchTimeoutMs: 30_000, runningTimeoutMs: 900_000, ...defaults } }
      : {}),
  };
}

/** A routing table that reloads when its file changes; an invalid edit is logged and the last good table stays. */
export interface LiveRouting {
  table(): RoutingTable;
  close(): void;
}

/** Loads the routing file (throws if the first load is invalid) and watches it. */
export async function watchRoutingFile(file: string, logger: Logger): Promise<LiveRouting> {
  let current = createRoutingTable(parseRoutingFile(await readFile(file, 'utf8'), file));
  let timer: NodeJS.Timeout | undefined;
  const reload = async () => {
    try {
      current = createRoutingTable(parseRoutingFile(await readFile(file, 'utf8'), file));
      logger.info({ file }, 'routing file reloaded');
    } catch (err) {
      logger.error({ file, err: (err as Error).message }, 'routing file change rejected; keeping the previous routes');
    }
  };
  // Editors replace files (rename), so watch the directory entry and debounce.
  const watcher = watch(file, () => {
    clearTimeout(timer);
    timer = setTimeout(() => void reloadIfChanged(), 100);
  });
  watcher.on('error', () => {});
  const poll = setInterval(() => void reloadIfChanged(), 2000);
  let lastText = await readFile(file, 'utf8');
  async function reloadIfChanged() {
    const text = await readFile(file, 'utf8').catch(() => lastText);
    if (text !== lastText) {
      lastText = text;
      await reload();
    }
  }
  return {
    table: () => current,
    close() {
      clearTimeout(timer);
      clearInterval(poll);
      watcher.close();
    },
  };
}
