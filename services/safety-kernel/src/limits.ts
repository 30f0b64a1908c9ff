/**
 * Limits and fixed names of the safety-kernel service, defined once.
 */

/** Largest request message accepted by any RPC (a bundle is at most 1 MiB; Check may carry input_content). */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/** Longest accepted topic, tenant, job id or principal id, in characters. */
export const MAX_ID_LENGTH = 256;

/** Most labels a request may carry (top level plus meta). */
export const MAX_LABELS = 256;

/** Most requests one Simulate may evaluate (inline requests plus replayed decisions). */
export const MAX_SIMULATE_REQUESTS = 10_000;

/** Most DecisionChange entries one SimulateResponse lists (`changed` still counts them all). */
export const MAX_REPORTED_CHANGES = 1000;

/** Page size of list RPCs when the request says 0. */
export const DEFAULT_LIST_LIMIT = 100;

/** Largest page size a list RPC accepts. */
export const MAX_LIST_LIMIT = 1000;

/** Decisions waiting to be written; when full, new ones are dropped (counted and logged), never blocking Check. */
export const DECISION_QUEUE_CAPACITY = 50_000;

/** Decisions written per INSERT. */
export const DECISION_BATCH_SIZE = 500;

/** How often queued decisions are flushed, in ms. */
export const DECISION_FLUSH_INTERVAL_MS = 50;

/** How long Approve/Reject wait for the scheduler's ApprovalApplied reply. */
export const APPROVAL_NOTIFY_TIMEOUT_MS = 2000;

/** Prefix of approval ids. */
export const APPROVAL_ID_PREFIX = 'apr_';

/** Debounce of policy file change events, in ms (editors write in several steps). */
export const POLICY_FILE_DEBOUNCE_MS = 100;

/** Polling interval that backs up fs.watch (network file systems, replaced directories), in ms. */
export const POLICY_FILE_POLL_MS = 2000;

/** How often every replica re-reads the newest activation, in case a PolicyChanged message was missed. */
export const ACTIVATION_RESYNC_MS = 30_000;

/** Grace period for in-flight RPCs when stopping, in ms; connections still open afterwards are destroyed. */
export const SHUTDOWN_GRACE_MS = 5000;

/** A connection must send its first bytes within this time, or it is closed (protocol sniffing). */
export const FIRST_BYTES_TIMEOUT_MS = 10_000;

/** Source of the built-in bundle in SnapshotInfo.source. */
export const BUILTIN_SOURCE = 'default';
