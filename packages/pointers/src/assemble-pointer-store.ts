import { formatPointer, type Pointer, type PointerOf, type PointerScheme, parsePointer } from './parse-pointer.js';
import type { PointerBackend } from './pointer-backend.js';
import { PointerError, payloadExpired, payloadTooLarge } from './pointer-errors.js';
import { DEFAULT_BINARY_CONTENT_TYPE, DEFAULT_TEXT_CONTENT_TYPE, JSON_CONTENT_TYPE } from './pointer-limits.js';
import type { LoadedPayload, PointerInfo, PointerRef, PointerStore, PutOptions } from './pointer-store.js';
import { type ResolvedPointerStoreOptions, resolvePutTtlMs } from './pointer-store-options.js';
import { sha256Hex } from './sha256-hex.js';
import type { StoredMeta } from './stored-meta.js';

/** One backend per served scheme. */
export type PointerBackends = { [S in PointerScheme]?: PointerBackend<PointerOf<S>> };

// Printable ASCII only: the content type becomes an HTTP header for S3.
const CONTENT_TYPE_PATTERN = /^[\x20-\x7e]{1,255}$/;

/**
 * Builds the routing {@link PointerStore} over ready backends: scheme allow-list, size limits, TTL defaults, checksum
 * verification, expiry enforcement and error wrapping happen here once, for every backend. `createPointerStore` is
 * the public entry point; this seam exists so tests can hand in a backend they can reach into.
 */
export function assemblePointerStore(options: ResolvedPointerStoreOptions, backends: PointerBackends): PointerStore {
  let closed = false;

  function route(ref: PointerRef): { pointer: Pointer; uri: string; backend: PointerBackend<Pointer> } {
    const uri = typeof ref === 'string' ? ref : formatPointer(ref);
    const pointer = parsePointer(uri);
    const backend = backends[pointer.scheme] as PointerBackend<Pointer> | undefined;
    if (!options.allowedSchemes.includes(pointer.scheme) || backend === undefined) {
      throw new PointerError(
        'SCHEME_NOT_ALLOWED',
        `pointer scheme "${pointer.scheme}" of ${uri} is not enabled in this pointer store; ` +
          `enabled schemes: ${options.allowedSchemes.join(', ')}`,
        { uri },
      );
    }
    return { pointer, uri, backend };
  }

  /** Runs a backend operation; anything that is not already a PointerError becomes BACKEND_UNAVAILABLE. */
  async function guarded<T>(scheme: PointerScheme, action: string, uri: string, run: () => Promise<T>): Promise<T> {
    if (closed) {
      throw new PointerError('BACKEND_UNAVAILABLE', `pointer store is closed; cannot ${action} ${uri}`, { uri });
    }
    try {
      return await run();
    } catch (error) {
      if (error instanceof PointerError) throw error;
      throw new PointerError(
        'BACKEND_UNAVAILABLE',
        `${scheme} backend failed to ${action} ${uri}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
        { uri, cause: error },
      );
    }
  }

  async function enforceExpiry(
    backend: PointerBackend<Pointer>,
    pointer: Pointer,
    uri: string,
    expiresAt: Date | undefined,
  ): Promise<void> {
    // Backends that expire natively are trusted over the writer's clock.
    if (backend.expiresNatively || expiresAt === undefined || expiresAt.getTime() > Date.now()) return;
    try {
      await backend.discardExpired?.(pointer, uri);
    } catch {
      // Reclaiming space is best effort; the caller's answer is EXPIRED either way.
    }
    throw payloadExpired(uri, expiresAt);
  }

  async function get(ref: PointerRef): Promise<LoadedPayload> {
    const { pointer, uri, backend } = route(ref);
    return guarded(pointer.scheme, 'read', uri, async () => {
      const stored = await backend.read(pointer, uri, options.maxBytes);
      if (stored === undefined) throw notFound(uri);
      await enforceExpiry(backend, pointer, uri, stored.meta?.expiresAt ?? stored.observed.expiresAt);
      const { data, meta } = stored;
      const sha256 = sha256Hex(data);
      const stale = meta !== undefined && (meta.size !== data.byteLength || meta.sha256 !== sha256);
      if (meta && !(stale && backend.sharedWithThirdParties)) {
        if (stale) {
          throw new PointerError(
            'CHECKSUM_MISMATCH',
            `payload at ${uri} does not match its metadata: read ${data.byteLength} bytes with sha256 ${sha256}, ` +
              `expected ${meta.size} bytes with sha256 ${meta.sha256}`,
            { uri },
          );
        }
        return { data, info: infoFromMeta(uri, meta) };
      }
      const info: PointerInfo = {
        uri,
        size: data.byteLength,
        sha256,
        contentType: stored.observed.contentType ?? DEFAULT_BINARY_CONTENT_TYPE,
        hasMetadata: false,
      };
      if (stored.observed.createdAt) info.createdAt = stored.observed.createdAt;
      if (stored.observed.expiresAt) info.expiresAt = stored.observed.expiresAt;
      return { data, info };
    });
  }

  async function put(ref: PointerRef, data: Uint8Array | string, putOptions: PutOptions = {}): Promise<PointerInfo> {
    const { pointer, uri, backend } = route(ref);
    let bytes: Uint8Array;
    if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
    else if (data instanceof Uint8Array) bytes = data;
    else {
      throw new PointerError(
        'INVALID_PAYLOAD',
        `payload for ${uri} must be a Uint8Array or a string; got ${data === null ? 'null' : typeof data}`,
        { uri },
      );
    }
    if (bytes.byteLength > options.maxBytes) throw payloadTooLarge(uri, bytes.byteLength, options.maxBytes);
    const ttlMs = resolvePutTtlMs(putOptions.ttlMs) ?? options.defaultTtlMs;
    const contentType =
      putOptions.contentType ?? (typeof data === 'string' ? DEFAULT_TEXT_CONTENT_TYPE : DEFAULT_BINARY_CONTENT_TYPE);
    if (typeof contentType !== 'string' || !CONTENT_TYPE_PATTERN.test(contentType)) {
      throw new PointerError(
        'INVALID_OPTIONS',
        `put option contentType must be 1-255 printable ASCII characters like "application/json"; got ${JSON.stringify(contentType)}`,
        { uri },
      );
    }
    const createdAt = new Date();
    const meta: StoredMeta = { contentType, sha256: sha256Hex(bytes), size: bytes.byteLength, createdAt };
    if (ttlMs !== undefined) meta.expiresAt = new Date(createdAt.getTime() + ttlMs);
    await guarded(pointer.scheme, 'write', uri, () => backend.write(pointer, uri, bytes, meta, ttlMs));
    return infoFromMeta(uri, meta);
  }

  return {
    put,
    get,

    async putJson(ref, value, putOptions = {}) {
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (cause) {
        throw new PointerError(
          'INVALID_PAYLOAD',
          `value for ${describe(ref)} cannot be serialised as JSON: ${cause instanceof Error ? cause.message : String(cause)}`,
          { uri: describe(ref), cause },
        );
      }
      if (text === undefined) {
        throw new PointerError(
          'INVALID_PAYLOAD',
          `value for ${describe(ref)} is ${typeof value}, which JSON cannot represent; expected an object, array, string, number, boolean or null`,
          { uri: describe(ref) },
        );
      }
      return put(ref, text, { ...putOptions, contentType: putOptions.contentType ?? JSON_CONTENT_TYPE });
    },

    async getJson<T = unknown>(ref: PointerRef): Promise<T> {
      const { data, info } = await get(ref);
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(data);
      } catch (cause) {
        throw new PointerError('INVALID_PAYLOAD', `payload at ${info.uri} is not valid UTF-8, so not JSON`, {
          uri: info.uri,
          cause,
        });
      }
      try {
        return JSON.parse(text) as T;
      } catch (cause) {
        throw new PointerError(
          'INVALID_PAYLOAD',
          `payload at ${info.uri} (${info.contentType}, ${info.size} bytes) is not valid JSON: ` +
            `${cause instanceof Error ? cause.message : String(cause)}`,
          { uri: info.uri, cause },
        );
      }
    },

    async head(ref) {
      const { pointer, uri, backend } = route(ref);
      const stat = await guarded(pointer.scheme, 'stat', uri, async () => {
        const found = await backend.stat(pointer, uri);
        if (found === undefined) throw notFound(uri);
        await enforceExpiry(backend, pointer, uri, found.meta?.expiresAt ?? found.observed.expiresAt);
        return found;
      });
      if (stat.meta === undefined) return (await get(ref)).info;
      if (stat.size !== stat.meta.size && backend.sharedWithThirdParties) return (await get(ref)).info;
      if (stat.size !== stat.meta.size) {
        throw new PointerError(
          'CHECKSUM_MISMATCH',
          `payload at ${uri} is ${stat.size} bytes but its metadata records ${stat.meta.size} bytes`,
          { uri },
        );
      }
      return infoFromMeta(uri, stat.meta);
    },

    async delete(ref) {
      const { pointer, uri, backend } = route(ref);
      await guarded(pointer.scheme, 'delete', uri, () => backend.remove(pointer, uri));
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(Object.values(backends).map((backend) => backend.close()));
    },
  };
}

function infoFromMeta(uri: string, meta: StoredMeta): PointerInfo {
  const info: PointerInfo = {
    uri,
    size: meta.size,
    sha256: meta.sha256,
    contentType: meta.contentType,
    createdAt: meta.createdAt,
    hasMetadata: true,
  };
  if (meta.expiresAt) info.expiresAt = meta.expiresAt;
  return info;
}

function notFound(uri: string): PointerError {
  return new PointerError('NOT_FOUND', `nothing is stored at ${uri}`, { uri });
}

function describe(ref: PointerRef): string {
  return typeof ref === 'string' ? ref : JSON.stringify(ref);
}
