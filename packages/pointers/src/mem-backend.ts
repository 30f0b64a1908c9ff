import type { MemPointer } from './parse-pointer.js';
import type { PointerBackend, StoredObject, StoredStat } from './pointer-backend.js';
import { PointerError, payloadTooLarge } from './pointer-errors.js';
import type { StoredMeta } from './stored-meta.js';

/** One value held by the mem backend. */
export interface MemEntry {
  data: Uint8Array;
  meta: StoredMeta;
}

/** The in-process backend; `entries` is exposed for diagnostics and tests (e.g. tampering to test checksums). */
export interface MemBackend extends PointerBackend<MemPointer> {
  readonly entries: ReadonlyMap<string, MemEntry>;
  /** Bytes currently held. */
  totalBytes(): number;
}

/** Creates the `mem://` backend: a Map bounded by `maxTotalBytes`, values copied in and out. */
export function createMemBackend(options: { maxTotalBytes: number }): MemBackend {
  const entries = new Map<string, MemEntry>();
  let total = 0;

  const drop = (key: string): void => {
    const entry = entries.get(key);
    if (entry) {
      total -= entry.data.byteLength;
      entries.delete(key);
    }
  };

  // Expired values are reclaimed lazily: when read, and in bulk when a put needs room. No timers to leak.
  const sweepExpired = (now: number): void => {
    for (const [key, entry] of entries) {
      if (entry.meta.expiresAt && entry.meta.expiresAt.getTime() <= now) drop(key);
    }
  };

  return {
    expiresNatively: false,
    entries,
    totalBytes: () => total,

    async write(pointer, uri, data, meta) {
      // The value being replaced does not count against the bound.
      const heldByOthers = (): number => total - (entries.get(pointer.key)?.data.byteLength ?? 0);
      if (heldByOthers() + data.byteLength > options.maxTotalBytes) sweepExpired(Date.now());
      const held = heldByOthers();
      if (held + data.byteLength > options.maxTotalBytes) {
        throw new PointerError(
          'TOO_LARGE',
          `mem store holds ${held} bytes; adding ${data.byteLength} bytes for ${uri} would exceed ` +
            `mem.maxTotalBytes (${options.maxTotalBytes} bytes)`,
          { uri },
        );
      }
      drop(pointer.key);
      entries.set(pointer.key, { data: data.slice(), meta: { ...meta } });
      total += data.byteLength;
    },

    async read(pointer, uri, maxBytes): Promise<StoredObject | undefined> {
      const entry = entries.get(pointer.key);
      if (!entry) return undefined;
      if (entry.data.byteLength > maxBytes) throw payloadTooLarge(uri, entry.data.byteLength, maxBytes);
      return { data: entry.data.slice(), meta: { ...entry.meta }, observed: {} };
    },

    async stat(pointer): Promise<StoredStat | undefined> {
      const entry = entries.get(pointer.key);
      if (!entry) return undefined;
      return { size: entry.data.byteLength, meta: { ...entry.meta }, observed: {} };
    },

    async remove(pointer) {
      drop(pointer.key);
    },

    async discardExpired(pointer) {
      drop(pointer.key);
    },

    async close() {
      entries.clear();
      total = 0;
    },
  };
}
