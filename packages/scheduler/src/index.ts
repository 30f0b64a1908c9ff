export * from './create-scheduler.js';
export * from './group-commit.js';
export * from './job-record.js';
export * from './job-repository.js';
export * from './lifecycle.js';
export * from './policy-port.js';
export * from './requests.js';
export * from './scheduler-metrics.js';
