export * from './deterministic.js';
export * from './error-codes.js';
export * from './headers.js';
export * from './packet.js';
export * from './signing.js';
export * from './subject-pattern.js';
export * from './subjects.js';
export * from './validate-packet.js';
