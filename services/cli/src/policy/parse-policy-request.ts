import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { type PolicyCheckRequest, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { UsageError } from '../usage-error.js';

/** An example request in proto JSON form, quoted in errors. */
export const EXAMPLE_REQUEST_JSON = '{"topic":"job.echo","tenant":"acme","meta":{"capability":"code.write"}}';

const EXPECTED = `expected a cordum.agent.v1.PolicyCheckRequest in proto JSON form, e.g. '${EXAMPLE_REQUEST_JSON}'`;

/**
 * Decodes one request from JSON text (proto JSON form: `job_id` or `jobId`, enums by name, bytes as base64).
 * Errors say which input (`source`) and which key or field is wrong.
 */
export function decodePolicyRequest(text: string, source: string): PolicyCheckRequest {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new UsageError(`${source} is not valid JSON (${(err as Error).message}); ${EXPECTED}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UsageError(`${source} is not a JSON object; ${EXPECTED}`);
  }
  try {
    return fromJson(PolicyCheckRequestSchema, json);
  } catch (err) {
    // protobuf-es names the message and the key/field: `... from JSON: key "topik" is unknown`.
    throw new UsageError(`${source}: ${(err as Error).message}; ${EXPECTED}`);
  }
}

function readText(path: string | number, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** Parses `--request`: JSON text, `@file` (a JSON file) or `-` (JSON on stdin). */
export function parsePolicyRequestArg(raw: string, flag = '--request'): PolicyCheckRequest {
  if (raw === '-') return decodePolicyRequest(readText(0, 'stdin'), `${flag} (stdin)`);
  if (raw.startsWith('@')) {
    const path = resolve(raw.slice(1));
    return decodePolicyRequest(readText(path, `${flag} file`), path);
  }
  return decodePolicyRequest(raw, flag);
}

/**
 * Parses a JSON-lines file of requests (one PolicyCheckRequest per line; blank lines and lines starting with `#`
 * are skipped). Errors name the file and line.
 */
export function parsePolicyRequestLines(path: string): PolicyCheckRequest[] {
  const absolute = resolve(path);
  const requests: PolicyCheckRequest[] = [];
  readText(absolute, '--requests file')
    .split('\n')
    .forEach((line, i) => {
      const text = line.trim();
      if (text === '' || text.startsWith('#')) return;
      requests.push(decodePolicyRequest(text, `${absolute}:${i + 1}`));
    });
  return requests;
}
