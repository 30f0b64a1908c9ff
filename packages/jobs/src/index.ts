export * from './backoff.js';
export * from './job-state-machine.js';
export * from './routing-table.js';
export * from './select-worker.js';
export * from './worker-registry.js';
