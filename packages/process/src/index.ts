export * from './managed-process.js';
export * from './run-service-main.js';
