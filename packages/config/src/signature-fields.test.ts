import { describe, expect, it } from 'vitest';
import { ConfigError } from './config-error.js';
import { defineConfig } from './config-field.js';
import { loadConfig } from './load-config.js';
import { DEFAULT_SIGNATURE_REPLAY_WINDOW_MS, signatureConfigSpec } from './signature-fields.js';

const spec = defineConfig({ signatures: signatureConfigSpec });

describe('signatureConfigSpec', () => {
  it('defaults to unsigned, unverified traffic with a 5 minute replay window', () => {
    expect(loadConfig(spec, { env: {}, file: null })).toEqual({
      signatures: {
        requireSignatures: false,
        trustedKeysFile: '',
        signingKeyFile: '',
        replayWindowMs: DEFAULT_SIGNATURE_REPLAY_WINDOW_MS,
      },
    });
  });

  it('reads the CAPSTAN_* variables and the signatures.* file keys', () => {
    const fromEnv = loadConfig(spec, {
      env: {
        CAPSTAN_REQUIRE_SIGNATURES: 'yes',
        CAPSTAN_TRUSTED_KEYS: '/etc/capstan/trusted-keys.yaml',
        CAPSTAN_SIGNING_KEY_FILE: '/etc/capstan/scheduler.pem',
        CAPSTAN_SIGNATURE_REPLAY_WINDOW_MS: '60000',
      },
      file: null,
    });
    expect(fromEnv.signatures).toEqual({
      requireSignatures: true,
      trustedKeysFile: '/etc/capstan/trusted-keys.yaml',
      signingKeyFile: '/etc/capstan/scheduler.pem',
      replayWindowMs: 60_000,
    });
    const fromFile = loadConfig(spec, {
      env: {},
      file: { signatures: { require: true, trustedKeysFile: 'keys.yaml', replayWindowMs: 2000 } },
    });
    expect(fromFile.signatures).toMatchObject({
      requireSignatures: true,
      trustedKeysFile: 'keys.yaml',
      replayWindowMs: 2000,
    });
  });

  it('names the variable and the expected form for bad values', () => {
    let error: unknown;
    try {
      loadConfig(spec, {
        env: { CAPSTAN_REQUIRE_SIGNATURES: 'sometimes', CAPSTAN_SIGNATURE_REPLAY_WINDOW_MS: '10' },
        file: null,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const messages = (error as ConfigError).issues.map((issue) => issue.message);
    expect(messages).toEqual([
      expect.stringMatching(/^CAPSTAN_REQUIRE_SIGNATURES="sometimes" is invalid .*expected true or false$/),
      expect.stringMatching(/^CAPSTAN_SIGNATURE_REPLAY_WINDOW_MS=10 is invalid .*expected milliseconds ≥ 1000$/),
    ]);
  });
});
