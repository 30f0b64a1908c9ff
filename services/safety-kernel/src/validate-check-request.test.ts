import { create } from '@bufbuild/protobuf';
import { PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { Code } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { checkRequestProblem } from './validate-check-request.js';

const problem = (init: Parameters<typeof create<typeof PolicyCheckRequestSchema>>[1], prefix?: string) =>
  checkRequestProblem(create(PolicyCheckRequestSchema, init), prefix)?.rawMessage;

describe('checkRequestProblem', () => {
  it('accepts a plain request', () => {
    expect(problem({ topic: 'job.echo', tenant: 'acme', labels: { env: 'prod' } })).toBeUndefined();
  });

  it('names the field and what is expected', () => {
    expect(problem({})).toMatch(/^topic: is required; expected a job topic such as "job\.echo"$/);
    expect(problem({ topic: 'job.*' })).toMatch(/^topic: "job\.\*" is not a topic/);
    expect(problem({ topic: 'job.x', tenant: 't'.repeat(257) })).toMatch(
      /^tenant: 257 characters; expected at most 256/,
    );
    expect(problem({ topic: 'job.x', meta: { actorId: 'a'.repeat(300) } })).toMatch(/^meta\.actor_id: /);
    expect(problem({ topic: 'job.x', estimatedCost: -1 })).toMatch(/^estimated_cost: -1 is not a cost/);
    expect(problem({ topic: 'job.x', estimatedCost: Number.POSITIVE_INFINITY })).toMatch(/^estimated_cost: Infinity/);
    const labels = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v']));
    expect(problem({ topic: 'job.x', labels })).toMatch(/^labels: 300 labels/);
    expect(problem({}, 'requests[2].')).toMatch(/^requests\[2\]\.topic: is required/);
    expect(checkRequestProblem(undefined, 'request.')?.rawMessage).toBe('request: is required');
    expect(checkRequestProblem(create(PolicyCheckRequestSchema, {}))?.code).toBe(Code.InvalidArgument);
  });
});
