import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActorType } from '@capstan/gen/cordum/agent/v1/job_pb';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../usage-error.js';
import { parsePolicyRequestArg, parsePolicyRequestLines } from './parse-policy-request.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-policy-request-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parsePolicyRequestArg', () => {
  it('decodes proto JSON (either field name form, enums by name) from text or @file', () => {
    const request = parsePolicyRequestArg(
      '{"topic":"job.echo","tenant":"acme","job_id":"j1","meta":{"actorType":"ACTOR_TYPE_HUMAN","risk_tags":["x"]}}',
    );
    expect(request).toMatchObject({ topic: 'job.echo', tenant: 'acme', jobId: 'j1' });
    expect(request.meta?.actorType).toBe(ActorType.HUMAN);
    expect(request.meta?.riskTags).toEqual(['x']);
    const file = join(dir, 'request.json');
    writeFileSync(file, '{"topic":"job.deploy.prod"}');
    expect(parsePolicyRequestArg(`@${file}`).topic).toBe('job.deploy.prod');
  });

  it('names the unknown key or the bad field and shows the expected form', () => {
    expect(() => parsePolicyRequestArg('{"topik":"job.echo"}')).toThrow(UsageError);
    expect(() => parsePolicyRequestArg('{"topik":"job.echo"}')).toThrow(
      /^--request: cannot decode message cordum\.agent\.v1\.PolicyCheckRequest from JSON: key "topik" is unknown; expected a cordum\.agent\.v1\.PolicyCheckRequest in proto JSON form, e\.g\. '\{"topic"/,
    );
    expect(() => parsePolicyRequestArg('{"estimated_cost":"lots"}')).toThrow(
      /PolicyCheckRequest\.estimated_cost from JSON: expected number/,
    );
    expect(() => parsePolicyRequestArg('{nope')).toThrow(/^--request is not valid JSON \(/);
    expect(() => parsePolicyRequestArg('[1]')).toThrow(/^--request is not a JSON object;/);
    expect(() => parsePolicyRequestArg(`@${join(dir, 'missing.json')}`)).toThrow(
      /^cannot read --request file .*missing\.json: ENOENT/,
    );
  });
});

describe('parsePolicyRequestLines', () => {
  it('reads one request per line, skipping blanks and comments, and names the line of a bad one', () => {
    const file = join(dir, 'requests.jsonl');
    writeFileSync(file, '# recorded\n{"topic":"job.a"}\n\n{"topic":"job.b","tenant":"t"}\n');
    expect(parsePolicyRequestLines(file).map((r) => r.topic)).toEqual(['job.a', 'job.b']);
    writeFileSync(file, '{"topic":"job.a"}\n{"topic":1}\n');
    expect(() => parsePolicyRequestLines(file)).toThrow(
      new RegExp(`^${file}:2: cannot decode field cordum\\.agent\\.v1\\.PolicyCheckRequest\\.topic`),
    );
  });
});
