export * from './routing-file.js';
export * from './scheduler-config.js';
export * from './start-scheduler-service.js';
