import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';
import { decodeCursor, encodeCursor, pageOf } from './pagination.js';

describe('cursor pagination', () => {
  it('round-trips positions and splits the extra row into has_more', () => {
    const page = pageOf([{ id: 'c' }, { id: 'b' }, { id: 'a' }], 2, (last) => ({ id: last.id }));
    expect(page.items).toEqual([{ id: 'c' }, { id: 'b' }]);
    expect(page.pagination.has_more).toBe(true);
    expect(decodeCursor(page.pagination.next_cursor as string, z.object({ id: z.string() }))).toEqual({ id: 'b' });
    expect(pageOf([{ id: 'a' }], 2, (last) => ({ id: last.id })).pagination).toEqual({
      per_page: 2,
      next_cursor: null,
      has_more: false,
    });
  });

  it('rejects cursors it did not issue', () => {
    expect(() => decodeCursor('bm90LWpzb24', z.object({ id: z.string() }))).toThrow(GatewayError);
    expect(() => decodeCursor(encodeCursor({ other: 1 }), z.object({ id: z.string() }))).toThrow(/Invalid cursor/);
  });
});
