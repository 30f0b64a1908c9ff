import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from './error-codes.js';
import { toGatewayError } from './error-handler.js';
import { GatewayError } from './gateway-error.js';

describe('error mapping', () => {
  it('keeps GatewayErrors and hides unknown errors behind 500/1000', () => {
    const own = new GatewayError('AGENT_NOT_FOUND', 'Agent x not found');
    expect(toGatewayError(own)).toBe(own);
    const internal = toGatewayError(new Error('connection refused to 10.0.0.1'));
    expect(internal).toMatchObject({ code: 1000, statusCode: 500, message: 'Internal error' });
  });

  it('serialises through pino (what the error handler logs for 5xx) without throwing', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: 'error' }, sink);
    const err = new GatewayError('INTERNAL', 'backend down', { cause: new Error('ECONNREFUSED') });
    expect(() => logger.error({ err }, 'request failed')).not.toThrow();
    expect(err.code).toBe(1000);
    expect(err.statusCode).toBe(500);
  });

  it('maps fastify client errors to their codes', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), {
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      statusCode: 413,
    });
    expect(toGatewayError(tooLarge)).toMatchObject({ code: 1002, statusCode: 413 });
    const json = Object.assign(new SyntaxError('Unexpected end of JSON input'), { statusCode: 400 });
    expect(toGatewayError(json)).toMatchObject({
      code: 3001,
      statusCode: 400,
      message: 'Request body is not valid JSON: Unexpected end of JSON input',
    });
  });

  it('has one definition per meaning, and the seed’s reused numbers keep their documented statuses', () => {
    const byCode = new Map<number, string[]>();
    for (const [name, def] of Object.entries(ErrorCodes)) byCode.set(def.code, [...(byCode.get(def.code) ?? []), name]);
    const reused = [...byCode.entries()]
      .filter(([, names]) => names.length > 1)
      .map(([code]) => code)
      .sort();
    expect(reused).toEqual([2001, 3001, 5004, 6001, 7001]);
    for (const def of Object.values(ErrorCodes)) {
      expect(def.origin === 'capstan' ? def.code < 2000 : def.code >= 2000).toBe(true);
    }
  });
});
