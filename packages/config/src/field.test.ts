import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { ConfigSpecError, defineConfig, field } from './config-field.js';
import { loadConfig } from './load-config.js';
import { portField } from './shared-fields.js';

describe('field', () => {
  it('makes a field without default required and names every env var that could set it', () => {
    const spec = defineConfig({
      token: field({
        env: ['CAPSTAN_TOKEN', 'TOKEN'],
        key: 'auth.token',
        schema: z.string(),
        expected: 'a token',
        doc: 'x',
      }),
    });
    const error = (() => {
      try {
        loadConfig(spec, { env: {}, file: null });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.issues[0]).toMatchObject({ source: 'missing', variable: 'CAPSTAN_TOKEN', field: 'token' });
    expect(error!.message).toContain(
      'CAPSTAN_TOKEN or TOKEN is not set (nor auth.token in the config file); expected a token',
    );
  });

  it('allows an optional field to stay undefined', () => {
    const spec = defineConfig({
      port: field({
        env: 'CAPSTAN_X_PORT',
        key: 'x.port',
        schema: z.number().optional(),
        expected: 'a port',
        doc: 'x',
      }),
    });
    expect(loadConfig(spec, { env: {}, file: null })).toEqual({ port: undefined });
  });

  it('hides secret values in error messages', () => {
    const spec = defineConfig({
      key: field({
        env: 'CAPSTAN_KEY',
        key: 'key',
        schema: z.string().length(32),
        expected: '32 characters',
        doc: 'x',
        secret: true,
      }),
    });
    expect(() => loadConfig(spec, { env: { CAPSTAN_KEY: 'hunter2' }, file: null })).toThrow(
      'CAPSTAN_KEY=(hidden) is invalid',
    );
  });

  it('rejects malformed declarations', () => {
    expect(() => portField({ env: 'lower_case', key: 'a.b', default: 1, doc: 'x' })).toThrow(ConfigSpecError);
    expect(() => portField({ env: 'OK', key: 'a..b', default: 1, doc: 'x' })).toThrow(/dotted path/);
  });
});
