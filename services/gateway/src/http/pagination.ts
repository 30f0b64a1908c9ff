import { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';

/** Largest page any list endpoint returns; larger `per_page` values are rejected (400), not clamped. */
export const MAX_PAGE_SIZE = 200;
/** Page size when the client sends none. */
export const DEFAULT_PAGE_SIZE = 50;

/** `per_page` query parameter: 1..{@link MAX_PAGE_SIZE}, default {@link DEFAULT_PAGE_SIZE}. */
export const perPageSchema = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_PAGE_SIZE)
  .default(DEFAULT_PAGE_SIZE)
  .describe(`Page size, 1–${MAX_PAGE_SIZE}`);

/** `cursor` query parameter: the opaque `next_cursor` of the previous page. */
export const cursorSchema = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9_-]+$/, 'not a cursor; pass the next_cursor of the previous page unchanged')
  .describe('Opaque cursor from the previous page’s pagination.next_cursor');

/** The `pagination` object of every cursor-paginated list response. */
export const cursorPaginationSchema = z.object({
  per_page: z.number().int(),
  next_cursor: z.string().nullable().describe('Pass as `cursor` to get the next page; null on the last page'),
  has_more: z.boolean(),
});

/** Encodes a keyset position as an opaque cursor. */
export function encodeCursor(position: Readonly<Record<string, string | number>>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor made by {@link encodeCursor} and checks it with `schema`.
 * @throws {GatewayError} INVALID_REQUEST (400) naming the `cursor` query parameter.
 */
export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new GatewayError('INVALID_REQUEST', 'Invalid cursor: pass the next_cursor of the previous page unchanged', {
      details: [{ field: 'cursor', message: 'not a cursor issued by this endpoint', location: 'query' }],
    });
  }
  return parsed.data;
}

/**
 * Splits the `limit + 1` rows a keyset query fetched into the page and its `pagination` object; `position`
 * turns the last row of the page into the cursor of the next one.
 */
export function pageOf<R>(
  rows: readonly R[],
  perPage: number,
  position: (last: R) => Record<string, string | number>,
): { items: R[]; pagination: z.infer<typeof cursorPaginationSchema> } {
  const items = rows.slice(0, perPage);
  const hasMore = rows.length > perPage;
  const last = items.at(-1);
  return {
    items,
    pagination: {
      per_page: perPage,
      next_cursor: hasMore && last !== undefined ? encodeCursor(position(last)) : null,
      has_more: hasMore,
    },
  };
}
