import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { type PolicyChanged, PolicyChangedSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { loadBundle, type PolicyBundle } from '@capstan/policy';
import type { Logger } from 'pino';
import { isBundleCacheable } from './bundle-cacheable.js';
import { SafetyKernelError, SnapshotNotFoundError } from './errors.js';
import type { ActivationRow, SnapshotRow, SnapshotStore } from './snapshot-store.js';

/** A compiled snapshot held in memory. */
export interface LoadedSnapshot {
  readonly snapshotId: string;
  readonly bundle: PolicyBundle;
  readonly yaml: string;
  /** Decisions depend on the request alone (see {@link isBundleCacheable}). */
  readonly cacheable: boolean;
}

/** Who activates a snapshot, and why. */
export interface ActivationCause {
  actor: string;
  /** "admin", "file", "rollback", "startup". */
  source: string;
  reason: string;
}

/** Where a bundle text comes from, for storage. */
export interface BundleOrigin {
  /** File name used in issue positions. */
  file: string;
  /** SnapshotInfo.source: "file:<path>", "admin", "default". */
  source: string;
  createdBy: string;
}

/** The outcome of an activation. */
export interface ActivationOutcome {
  snapshot: LoadedSnapshot;
  /** The activation row (the existing newest one when the snapshot was already active). */
  activation: ActivationRow;
  /** The snapshot active before (empty for the first activation). */
  previousSnapshotId: string;
  /** False when the snapshot was already the active one (nothing recorded or announced). */
  changed: boolean;
}

/** Options of {@link createSnapshotRegistry}. */
export interface SnapshotRegistryOptions {
  store: SnapshotStore;
  logger: Logger;
  /** Compiled snapshots kept in memory (the active one is always kept). */
  keep: number;
  /** Announces an activation to every replica and scheduler (capstan.policy.changed). */
  publish(changed: PolicyChanged): void;
  /** Largest bundle in bytes, passed to loadBundle. */
  maxBundleBytes?: number;
  /** Called after the active snapshot changed (for metrics). */
  onSwitch?(snapshot: LoadedSnapshot): void;
}

/**
 * The kernel's view of policy snapshots: the active one (read synchronously on every Check), a bounded set of
 * compiled snapshots in memory, and activation through the database so that every replica converges on the newest
 * activation. Activations and switches are serialized, so a PolicyChanged arriving during an admin activation
 * cannot interleave with it.
 */
export interface SnapshotRegistry {
  /** The active snapshot. */
  active(): LoadedSnapshot;
  /** Validates and compiles a bundle without storing it. @throws {PolicyBundleError} */
  compile(yaml: string, file: string): LoadedSnapshot;
  /** Validates and stores a bundle (idempotent: the same text gives the same snapshot). @throws {PolicyBundleError} */
  store(yaml: string, origin: BundleOrigin): Promise<{ snapshot: LoadedSnapshot; row: SnapshotRow }>;
  /** A snapshot from memory or the database; undefined when it is not stored. */
  load(snapshotId: string): Promise<LoadedSnapshot | undefined>;
  /** Activates a stored snapshot, records it and announces it. @throws {SnapshotNotFoundError} */
  activate(snapshotId: string, cause: ActivationCause): Promise<ActivationOutcome>;
  /** Re-activates the snapshot that was active before the current one. @throws {SnapshotNotFoundError} */
  rollback(cause: Omit<ActivationCause, 'source'>): Promise<ActivationOutcome>;
  /** Switches to the newest activation in the database if it is not the active one. */
  sync(why: string): Promise<void>;
  /**
   * Startup: the newest activation in the database, unless `file` was modified after it (then the file is
   * activated); with no activation, `file`; with neither, `fallback` (the built-in bundle).
   */
  initialize(
    file: { yaml: string; path: string; modifiedAt: Date } | undefined,
    fallback: { yaml: string; origin: BundleOrigin; cause: ActivationCause },
    fileCause: ActivationCause,
  ): Promise<void>;
}

/** Creates a snapshot registry; call `initialize` before `active`. */
export function createSnapshotRegistry(options: SnapshotRegistryOptions): SnapshotRegistry {
  const { store, logger, keep, publish, maxBundleBytes, onSwitch } = options;
  const memory = new Map<string, LoadedSnapshot>();
  let current: LoadedSnapshot | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every earlier activation/switch has finished. */
  const serialized = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  };

  const remember = (s: LoadedSnapshot) => {
    memory.delete(s.snapshotId);
    memory.set(s.snapshotId, s);
    for (const id of memory.keys()) {
      if (memory.size <= keep) break;
      if (id !== current?.snapshotId) memory.delete(id);
    }
  };

  const compile = (yaml: string, file: string): LoadedSnapshot => {
    const bundle = loadBundle(yaml, { file, ...(maxBundleBytes ? { maxBytes: maxBundleBytes } : {}) });
    return { snapshotId: bundle.snapshotId, bundle, yaml, cacheable: isBundleCacheable(bundle) };
  };

  const load = async (snapshotId: string): Promise<LoadedSnapshot | undefined> => {
    const cached = memory.get(snapshotId);
    if (cached) return cached;
    const row = await store.get(snapshotId);
    if (!row) return undefined;
    const loaded = compile(row.bundle_yaml, row.file || '<bundle>');
    if (loaded.snapshotId !== snapshotId) {
      // The id is a hash of the text, so this means the row was edited by hand.
      throw new SafetyKernelError(
        `stored snapshot ${snapshotId} hashes to ${loaded.snapshotId}; the policy_snapshots row was modified`,
      );
    }
    remember(loaded);
    return loaded;
  };

  const switchTo = (s: LoadedSnapshot, why: string) => {
    const previous = current?.snapshotId;
    current = s;
    remember(s);
    if (previous !== s.snapshotId) {
      logger.info(
        { snapshot: s.snapshotId, previous, rules: s.bundle.rules.length, cacheable: s.cacheable },
        `policy snapshot active (${why})`,
      );
      onSwitch?.(s);
    }
  };

  const storeBundle = async (yaml: string, origin: BundleOrigin) => {
    const snapshot = compile(yaml, origin.file);
    const row = await store.save({
      snapshotId: snapshot.snapshotId,
      version: snapshot.bundle.version ?? '',
      yaml,
      file: origin.file,
      ruleCount: snapshot.bundle.rules.length,
      cacheable: snapshot.cacheable,
      source: origin.source,
      createdBy: origin.createdBy,
    });
    remember(snapshot);
    return { snapshot, row };
  };

  const activateNow = async (snapshotId: string, cause: ActivationCause): Promise<ActivationOutcome> => {
    const snapshot = await load(snapshotId);
    if (!snapshot) throw new SnapshotNotFoundError(`snapshot ${snapshotId} is not stored; upload it first`);
    const at = new Date();
    const { row, inserted } = await store.activate({ snapshotId, ...cause, at });
    switchTo(snapshot, `${cause.source} by ${cause.actor}`);
    if (inserted) {
      publish(
        create(PolicyChangedSchema, {
          snapshotId,
          previousSnapshotId: row.previous_snapshot_id,
          cacheable: snapshot.cacheable,
          actor: cause.actor,
          source: cause.source,
          at: timestampFromDate(at),
        }),
      );
    }
    return { snapshot, activation: row, previousSnapshotId: row.previous_snapshot_id, changed: inserted };
  };

  const syncNow = async (why: string) => {
    const newest = await store.newestActivation();
    if (!newest || newest.snapshot_id === current?.snapshotId) return;
    const s = await load(newest.snapshot_id);
    if (!s) {
      logger.error({ snapshot: newest.snapshot_id }, 'the newest activation names a snapshot that is not stored');
      return;
    }
    switchTo(s, why);
  };

  return {
    active() {
      if (!current) throw new SafetyKernelError('no policy snapshot is active yet; call initialize() first');
      return current;
    },
    compile,
    store: (yaml, origin) => storeBundle(yaml, origin),
    load,
    activate: (snapshotId, cause) => serialized(() => activateNow(snapshotId, cause)),
    rollback: (cause) =>
      serialized(async () => {
        const newest = await store.newestActivation();
        const previous = newest?.previous_snapshot_id;
        if (!previous)
          throw new SnapshotNotFoundError('nothing to roll back to: no snapshot was active before this one');
        return activateNow(previous, { ...cause, source: 'rollback' });
      }),
    sync: (why) =>
      serialized(() =>
        syncNow(why).catch((err) => {
          logger.error({ err }, 'could not switch to the newest policy activation; keeping the active snapshot');
        }),
      ),
    initialize: (file, fallback, fileCause) =>
      serialized(async () => {
        const newest = await store.newestActivation();
        if (newest) {
          if (file && file.modifiedAt.getTime() > new Date(newest.at).getTime()) {
            const fromFile = compile(file.yaml, file.path);
            if (fromFile.snapshotId !== newest.snapshot_id) {
              logger.info(
                { file: file.path, activated_at: newest.at },
                'policy file changed after the newest activation; activating it',
              );
              await storeBundle(file.yaml, {
                file: file.path,
                source: `file:${file.path}`,
                createdBy: fileCause.actor,
              });
              await activateNow(fromFile.snapshotId, fileCause);
              return;
            }
          }
          try {
            const s = await load(newest.snapshot_id);
            if (s) {
              switchTo(s, `newest activation, by ${newest.actor} (${newest.source})`);
              return;
            }
            logger.error({ snapshot: newest.snapshot_id }, 'the newest activation names a snapshot that is not stored');
          } catch (err) {
            logger.error({ err, snapshot: newest.snapshot_id }, 'the newest activated snapshot no longer loads');
          }
        }
        if (file) {
          const { snapshot } = await storeBundle(file.yaml, {
            file: file.path,
            source: `file:${file.path}`,
            createdBy: fileCause.actor,
          });
          await activateNow(snapshot.snapshotId, fileCause);
          return;
        }
        logger.warn(
          'no policy bundle configured: every request is DENIED by the built-in bundle. Set CAPSTAN_POLICY_FILE=<bundle.yaml> ' +
            'or upload one with capstan.policy.v1.PolicyAdmin/UploadBundle (see docs/safety-kernel.md)',
        );
        const { snapshot } = await storeBundle(fallback.yaml, fallback.origin);
        await activateNow(snapshot.snapshotId, fallback.cause);
      }),
  };
}
