export * from './create-bus.js';
export * from './dead-letter.js';
export * from './errors.js';
export * from './metrics.js';
export * from './packet-security.js';
export * from './stream-specs.js';
