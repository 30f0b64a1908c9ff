import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FilePointer } from './parse-pointer.js';
import type { PointerBackend, StoredObject, StoredStat } from './pointer-backend.js';
import { PointerError, payloadTooLarge } from './pointer-errors.js';
import { metaFromRecord, metaToRecord, type StoredMeta } from './stored-meta.js';

/** Suffix of the JSON sidecar that holds a file payload's metadata (`<name>.meta.json`). */
export const FILE_META_SUFFIX = '.meta.json';

/** Suffix of in-flight temp files; like the sidecar suffix, reserved so no pointer can name one. */
const TEMP_SUFFIX = '.capstan-tmp';

/**
 * Creates the `file://` backend. Paths resolve under `root`; writes go to a temp file that is fsynced and renamed
 * into place, so readers never see a partial payload. Anything that resolves outside the root — including through a
 * symbolic link — is refused with NOT_ALLOWED before it is read, created or deleted.
 */
export function createFileBackend(options: { root: string }): PointerBackend<FilePointer> {
  const root = path.resolve(options.root);
  let realRoot: string | undefined;

  async function resolveRealRoot(create: boolean): Promise<string | undefined> {
    if (realRoot !== undefined) return realRoot;
    if (create) await mkdir(root, { recursive: true });
    const real = await realpathOrUndefined(root);
    if (real !== undefined) realRoot = real;
    return real;
  }

  function locate(pointer: FilePointer, uri: string): string {
    const name = path.posix.basename(pointer.path);
    if (name.endsWith(FILE_META_SUFFIX) || name.endsWith(TEMP_SUFFIX)) {
      throw new PointerError(
        'INVALID_POINTER',
        `file pointer ${uri} names a reserved file; names ending in ${FILE_META_SUFFIX} or ${TEMP_SUFFIX} hold ` +
          'pointer metadata and temp files',
        { uri },
      );
    }
    const target = path.resolve(root, ...pointer.path.split('/'));
    // parsePointer already refuses ".." segments; this is the lexical backstop.
    if (!isStrictlyInside(root, target)) throw outsideRoot(uri);
    return target;
  }

  /** Returns false when `candidate` does not exist; throws NOT_ALLOWED when it really lives outside the root. */
  async function existsInsideRoot(candidate: string, rootReal: string, uri: string): Promise<boolean> {
    const real = await realpathOrUndefined(candidate);
    if (real === undefined) return false;
    if (real !== rootReal && !isStrictlyInside(rootReal, real)) throw outsideRoot(uri);
    return true;
  }

  async function readMeta(target: string, rootReal: string, uri: string): Promise<StoredMeta | undefined> {
    const sidecar = target + FILE_META_SUFFIX;
    if (!(await existsInsideRoot(sidecar, rootReal, uri))) return undefined;
    let text: string;
    try {
      text = await readFile(sidecar, 'utf8');
    } catch (cause) {
      if (isNotFound(cause)) return undefined;
      throw cause;
    }
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      // Unparseable metadata is reported by metaFromRecord as CHECKSUM_MISMATCH: the payload can't be verified.
      record = undefined;
    }
    return metaFromRecord(
      typeof record === 'object' && record !== null ? (record as Record<string, unknown>) : {},
      uri,
    );
  }

  async function remove(pointer: FilePointer, uri: string): Promise<void> {
    const rootReal = await resolveRealRoot(false);
    if (rootReal === undefined) return;
    const target = locate(pointer, uri);
    // rm unlinks a symlink itself, but a symlinked parent directory would redirect it, so check the parent.
    if (!(await existsInsideRoot(path.dirname(target), rootReal, uri))) return;
    await rm(target, { force: true });
    await rm(target + FILE_META_SUFFIX, { force: true });
  }

  return {
    expiresNatively: false,

    async write(pointer, uri, data, meta) {
      const rootReal = (await resolveRealRoot(true))!;
      const target = locate(pointer, uri);
      const dir = path.dirname(target);
      // Check the deepest directory that already exists before mkdir, so a symlinked component can't make us create
      // directories outside the root; check again once the parent exists.
      let existing = dir;
      while (!(await existsInsideRoot(existing, rootReal, uri))) existing = path.dirname(existing);
      await mkdir(dir, { recursive: true });
      if (!(await existsInsideRoot(dir, rootReal, uri))) throw outsideRoot(uri);

      const nonce = randomUUID();
      const dataTemp = `${target}.${nonce}${TEMP_SUFFIX}`;
      const metaTemp = `${target}${FILE_META_SUFFIX}.${nonce}${TEMP_SUFFIX}`;
      try {
        await writeDurably(dataTemp, data);
        await writeDurably(metaTemp, `${JSON.stringify(metaToRecord(meta), null, 2)}\n`);
        // Data first, then metadata: a reader in between sees CHECKSUM_MISMATCH (loud, retryable), never a payload
        // silently paired with someone else's metadata.
        await rename(dataTemp, target);
        await rename(metaTemp, target + FILE_META_SUFFIX);
      } finally {
        await rm(dataTemp, { force: true });
        await rm(metaTemp, { force: true });
      }
    },

    async read(pointer, uri, maxBytes): Promise<StoredObject | undefined> {
      const rootReal = await resolveRealRoot(false);
      if (rootReal === undefined) return undefined;
      const target = locate(pointer, uri);
      if (!(await existsInsideRoot(target, rootReal, uri))) return undefined;
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        handle = await open(target, 'r');
      } catch (cause) {
        if (isNotFound(cause)) return undefined;
        throw cause;
      }
      try {
        const info = await handle.stat();
        if (!info.isFile()) throw notAFile(uri);
        if (info.size > maxBytes) throw payloadTooLarge(uri, info.size, maxBytes);
        // Read at most maxBytes + 1 so a file that grows after the stat still cannot make us read without bound.
        const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1);
        let length = 0;
        while (length < buffer.length) {
          const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
          if (bytesRead === 0) break;
          length += bytesRead;
        }
        if (length > maxBytes) throw payloadTooLarge(uri, length, maxBytes);
        const meta = await readMeta(target, rootReal, uri);
        const data = new Uint8Array(buffer.buffer, buffer.byteOffset, length);
        return meta ? { data, meta, observed: {} } : { data, observed: { createdAt: info.mtime } };
      } finally {
        await handle.close();
      }
    },

    async stat(pointer, uri): Promise<StoredStat | undefined> {
      const rootReal = await resolveRealRoot(false);
      if (rootReal === undefined) return undefined;
      const target = locate(pointer, uri);
      if (!(await existsInsideRoot(target, rootReal, uri))) return undefined;
      const info = await stat(target);
      if (!info.isFile()) throw notAFile(uri);
      const meta = await readMeta(target, rootReal, uri);
      return meta ? { size: info.size, meta, observed: {} } : { size: info.size, observed: { createdAt: info.mtime } };
    },

    remove,
    discardExpired: remove,

    async close() {
      // Nothing held open between calls.
    },
  };
}

async function writeDurably(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function realpathOrUndefined(candidate: string): Promise<string | undefined> {
  try {
    return await realpath(candidate);
  } catch (cause) {
    if (isNotFound(cause)) return undefined;
    throw cause;
  }
}

function isStrictlyInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function outsideRoot(uri: string): PointerError {
  return new PointerError('NOT_ALLOWED', `file pointer ${uri} resolves outside the file store root`, { uri });
}

function notAFile(uri: string): PointerError {
  return new PointerError('INVALID_POINTER', `file pointer ${uri} names a directory; expected a regular file`, {
    uri,
  });
}
