import { describe, expect, it } from 'vitest';
import { createLogger } from './create-logger.js';
import { withJob } from './with-job.js';

describe('withJob', () => {
  it('adds trace_id, job_id and tenant to every line of the child', () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'scheduler', destination: { write: (l: string) => lines.push(l) } });
    const jobLogger = withJob(logger, { traceId: 't-1', jobId: 'j-1', tenant: 'acme' });
    jobLogger.info('scheduled');
    jobLogger.error({ attempt: 2 }, 'failed');
    for (const raw of lines) {
      expect(JSON.parse(raw)).toMatchObject({ service: 'scheduler', trace_id: 't-1', job_id: 'j-1', tenant: 'acme' });
    }
    expect(lines).toHaveLength(2);
  });

  it('leaves out fields that are not known instead of logging them empty', () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'gateway', destination: { write: (l: string) => lines.push(l) } });
    withJob(logger, { jobId: 'j-2' }).info('accepted');
    const line = JSON.parse(lines[0]!);
    expect(line.job_id).toBe('j-2');
    expect(line).not.toHaveProperty('trace_id');
    expect(line).not.toHaveProperty('tenant');
  });

  it('does not change the parent logger', () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'gateway', destination: { write: (l: string) => lines.push(l) } });
    withJob(logger, { traceId: 't', jobId: 'j', tenant: 'x' });
    logger.info('plain');
    expect(JSON.parse(lines[0]!)).not.toHaveProperty('job_id');
  });
});
