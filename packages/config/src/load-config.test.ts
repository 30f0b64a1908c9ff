import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError } from './config-error.js';
import { defineConfig } from './config-field.js';
import { DEFAULT_NATS_URL, DEFAULT_PORTS, DEFAULT_REDIS_URL } from './defaults.js';
import { loadConfig } from './load-config.js';
import { databaseUrl, gatewayPort, logLevel, natsUrl, redisUrl, s3 } from './shared-fields.js';

const spec = defineConfig({ nats: { url: natsUrl }, redisUrl, databaseUrl, s3, logLevel, port: gatewayPort });

const dir = mkdtempSync(join(tmpdir(), 'capstan-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs loadConfig expecting a ConfigError and returns it. */
function loadError(env: Record<string, string>, file?: string | Record<string, unknown>): ConfigError {
  try {
    loadConfig(spec, { env, file });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('fills every field from defaults when nothing is set', () => {
    const config = loadConfig(spec, { env: {}, file: null });
    expect(config).toEqual({
      nats: { url: DEFAULT_NATS_URL },
      redisUrl: DEFAULT_REDIS_URL,
      databaseUrl: '',
      s3: { endpoint: '', region: 'us-east-1', buckets: [], forcePathStyle: false },
      logLevel: 'info',
      port: DEFAULT_PORTS.gateway,
    });
    expectTypeOf(config.port).toEqualTypeOf<number>();
    expectTypeOf(config.s3.buckets).toEqualTypeOf<string[]>();
    expectTypeOf(config.nats.url).toEqualTypeOf<string>();
  });

  it('takes values from environment variables and converts them', () => {
    const config = loadConfig(spec, {
      env: {
        CAPSTAN_NATS_URL: 'nats://10.0.0.1:4333',
        REDIS_URL: 'rediss://cache:6380',
        DATABASE_URL: 'postgres://capstan:pw@db:5432/capstan',
        CAPSTAN_S3_BUCKETS: 'payloads, artifacts',
        CAPSTAN_S3_FORCE_PATH_STYLE: 'yes',
        LOG_LEVEL: 'DEBUG',
        CAPSTAN_GATEWAY_PORT: '8080',
      },
      file: null,
    });
    expect(config.nats.url).toBe('nats://10.0.0.1:4333');
    expect(config.redisUrl).toBe('rediss://cache:6380');
    expect(config.databaseUrl).toBe('postgres://capstan:pw@db:5432/capstan');
    expect(config.s3.buckets).toEqual(['payloads', 'artifacts']);
    expect(config.s3.forcePathStyle).toBe(true);
    expect(config.logLevel).toBe('debug');
    expect(config.port).toBe(8080);
  });

  it('prefers CAPSTAN_NATS_URL over NATS_URL and uses NATS_URL as fallback', () => {
    const both = { CAPSTAN_NATS_URL: 'nats://a:1', NATS_URL: 'nats://b:2' };
    expect(loadConfig(spec, { env: both, file: null }).nats.url).toBe('nats://a:1');
    expect(loadConfig(spec, { env: { NATS_URL: 'nats://b:2' }, file: null }).nats.url).toBe('nats://b:2');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(spec, { env: { CAPSTAN_GATEWAY_PORT: '' }, file: null }).port).toBe(DEFAULT_PORTS.gateway);
  });

  it('reads a YAML file named by CAPSTAN_CONFIG', () => {
    const path = writeFile(
      'capstan.yaml',
      'nats:\n  url: nats://yaml-host:4222\ns3:\n  buckets: [one, two]\ngateway:\n  port: 7000\nlog:\n  level: warn\n',
    );
    const config = loadConfig(spec, { env: { CAPSTAN_CONFIG: path } });
    expect(config.nats.url).toBe('nats://yaml-host:4222');
    expect(config.s3.buckets).toEqual(['one', 'two']);
    expect(config.port).toBe(7000);
    expect(config.logLevel).toBe('warn');
    expect(config.redisUrl).toBe(DEFAULT_REDIS_URL);
  });

  it('reads a JSON file given as an option', () => {
    const path = writeFile('capstan.json', JSON.stringify({ redis: { url: 'redis://json-host:6379' } }));
    expect(loadConfig(spec, { env: {}, file: path }).redisUrl).toBe('redis://json-host:6379');
  });

  it('lets the environment beat the file', () => {
    const path = writeFile('both.yaml', 'gateway:\n  port: 7000\nredis:\n  url: redis://file:6379\n');
    const config = loadConfig(spec, { env: { CAPSTAN_GATEWAY_PORT: '7100' }, file: path });
    expect(config.port).toBe(7100);
    expect(config.redisUrl).toBe('redis://file:6379');
  });

  it('reports every problem at once, each naming its variable and the expected form', () => {
    const error = loadError(
      { CAPSTAN_NATS_URL: 'http://nats:4222', CAPSTAN_GATEWAY_PORT: '80a', CAPSTAN_LOG_LEVEL: 'loud' },
      { s3: { buckets: ['Bad_Bucket'] } },
    );
    expect(error.issues.map((issue) => issue.variable)).toEqual([
      'CAPSTAN_NATS_URL',
      's3.buckets',
      'CAPSTAN_LOG_LEVEL',
      'CAPSTAN_GATEWAY_PORT',
    ]);
    expect(error.issues.map((issue) => issue.source)).toEqual(['env', 'file', 'env', 'env']);
    expect(error.message).toContain('Invalid configuration (4 problems)');
    expect(error.message).toContain('CAPSTAN_GATEWAY_PORT="80a" is invalid');
    expect(error.message).toContain('expected a TCP port number from 0 to 65535');
    expect(error.message).toContain('CAPSTAN_LOG_LEVEL="loud" is invalid');
    expect(error.message).toContain('s3.buckets = ["Bad_Bucket"] in the config object is invalid');
  });

  it('says what is wrong with a bad URL and what a good one looks like', () => {
    const notUrl = loadError({ CAPSTAN_NATS_URL: 'not a url' });
    expect(notUrl.issues).toHaveLength(1);
    expect(notUrl.issues[0]!.message).toBe(
      'CAPSTAN_NATS_URL="not a url" is invalid ("not a url" is not a URL); ' +
        'expected a NATS URL such as nats://127.0.0.1:4222 (several may be given, comma-separated)',
    );
    const wrongScheme = loadError({ REDIS_URL: 'http://cache:6379' });
    expect(wrongScheme.issues[0]!.message).toContain('REDIS_URL="http://cache:6379" is invalid');
    expect(wrongScheme.issues[0]!.message).toContain('scheme "http:" is not one of redis:, rediss:');
  });

  it('masks URL passwords in error messages', () => {
    const error = loadError({ DATABASE_URL: 'mysql://admin:s3cret@db/x' });
    expect(error.message).toContain('mysql://admin:***@db/x');
    expect(error.message).not.toContain('s3cret');
  });

  it('reports a missing or broken config file together with the other problems', () => {
    const missing = loadError({ CAPSTAN_CONFIG: join(dir, 'nope.yaml'), CAPSTAN_GATEWAY_PORT: '-1' });
    expect(missing.issues.map((issue) => issue.variable)).toEqual(['CAPSTAN_CONFIG', 'CAPSTAN_GATEWAY_PORT']);
    expect(missing.issues[0]!.message).toContain('the file does not exist');

    const broken = writeFile('broken.yaml', 'nats: [unclosed\n');
    expect(loadError({}, broken).issues[0]!.message).toMatch(/cannot be used: it is not valid YAML/);

    const list = writeFile('list.yaml', '- a\n- b\n');
    expect(loadError({}, list).issues[0]!.message).toContain('top level must be a mapping');
  });
});
