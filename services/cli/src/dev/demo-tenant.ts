import { randomBytes } from 'node:crypto';
import type { CapstanLogger } from '@capstan/log';
import { z } from 'zod';
import { type DemoCredentials, readDemoCredentials, writeDemoCredentials } from './demo-credentials-file.js';

/** Email of the demo organization's owner (a reserved-looking domain that never receives mail). */
export const DEMO_EMAIL = 'demo@capstan.local';

/** Name of the demo organization. */
export const DEMO_ORGANIZATION_NAME = 'Capstan demo';

/** Name of the demo API key, as `GET /v1/api-keys` lists it. */
export const DEMO_API_KEY_NAME = 'capstan dev demo key';

/** One request to the gateway's REST API. */
export interface GatewayCallRequest {
  method: 'GET' | 'POST';
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Sends a request to the gateway and returns the status and the parsed JSON body. */
export type GatewayCall = (request: GatewayCallRequest) => Promise<{ statusCode: number; body: unknown }>;

/** Options of {@link ensureDemoTenant}. */
export interface DemoTenantOptions {
  /**
   * Reaches the gateway. In `capstan dev` this is `app.inject`: the same routes, validation, auth, audit and rate
   * limits as over HTTP, without a socket — so the demo tenant is made exactly as a user would make it.
   */
  call: GatewayCall;
  /** Path of the credentials file (`.capstan/demo-credentials.json`). */
  file: string;
  /** Says when stored credentials could not be reused, and why. */
  logger: CapstanLogger;
  /**
   * Email of the demo owner on first start.
   * @default DEMO_EMAIL
   */
  email?: string;
}

/** What {@link ensureDemoTenant} did. */
export type DemoTenantOutcome =
  /** The stored key still works: nothing was created. */
  | 'reused'
  /** The stored key was rejected (revoked) but the stored user could log in: a new key was made for it. */
  | 'new-key'
  /** No usable credentials (first start, deleted database or file): a new organization, owner and key. */
  | 'new-tenant';

/** The demo tenant, ready to use. */
export interface DemoTenant {
  credentials: DemoCredentials;
  outcome: DemoTenantOutcome;
}

/** Thrown when the gateway answers a provisioning call in a way that leaves no demo tenant. */
export class DemoTenantError extends Error {
  override readonly name = 'DemoTenantError';
}

const errorBody = z.object({ error: z.object({ code: z.number(), message: z.string() }) });
const tokenAnswer = z.object({ token: z.string(), organization_id: z.string() });
const registerAnswer = z.object({ token: z.string(), organization: z.object({ id: z.string() }) });
const keyAnswer = z.object({ api_key: z.object({ id: z.string(), key: z.string() }) });

function parse<T>(schema: z.ZodType<T>, what: string, answer: { statusCode: number; body: unknown }): T {
  const result = schema.safeParse(answer.body);
  if (!result.success) {
    throw new DemoTenantError(`the gateway's answer to ${what} (HTTP ${answer.statusCode}) has an unexpected shape`, {
      cause: result.error,
    });
  }
  return result.data;
}

function unexpected(what: string, answer: { statusCode: number; body: unknown }): DemoTenantError {
  const error = errorBody.safeParse(answer.body);
  const detail = error.success ? `${error.data.error.code}: ${error.data.error.message}` : JSON.stringify(answer.body);
  return new DemoTenantError(`could not ${what}: the gateway answered HTTP ${answer.statusCode} (${detail})`);
}

/** Organization id the key belongs to, or undefined when the gateway rejects it (401). */
async function keyOrganization(call: GatewayCall, apiKey: string): Promise<string | undefined> {
  const answer = await call({ method: 'POST', url: '/v1/auth/token', body: { api_key: apiKey } });
  if (answer.statusCode === 401) return undefined;
  if (answer.statusCode !== 200) throw unexpected('check the stored demo API key', answer);
  return parse(tokenAnswer, 'POST /v1/auth/token', answer).organization_id;
}

/** A session for the stored user, or undefined when the email/password no longer log in (401). */
async function logIn(
  call: GatewayCall,
  email: string,
  password: string,
): Promise<{ token: string; organizationId: string } | undefined> {
  const answer = await call({ method: 'POST', url: '/v1/auth/login', body: { email, password } });
  if (answer.statusCode === 401) return undefined;
  if (answer.statusCode !== 200) throw unexpected(`log in as ${email}`, answer);
  const { token, organization_id } = parse(tokenAnswer, 'POST /v1/auth/login', answer);
  return { token, organizationId: organization_id };
}

/** Registers an organization and its owner; undefined when the email is already registered (409). */
async function register(
  call: GatewayCall,
  email: string,
  password: string,
): Promise<{ token: string; organizationId: string } | undefined> {
  const answer = await call({
    method: 'POST',
    url: '/v1/auth/register',
    body: { organization_name: DEMO_ORGANIZATION_NAME, user_name: 'Demo owner', email, password },
  });
  if (answer.statusCode === 409) return undefined;
  if (answer.statusCode !== 201) throw unexpected(`register the demo organization for ${email}`, answer);
  const { token, organization } = parse(registerAnswer, 'POST /v1/auth/register', answer);
  return { token, organizationId: organization.id };
}

async function createKey(call: GatewayCall, token: string): Promise<{ id: string; key: string }> {
  const answer = await call({
    method: 'POST',
    url: '/v1/api-keys',
    headers: { authorization: `Bearer ${token}` },
    body: { name: DEMO_API_KEY_NAME },
  });
  if (answer.statusCode !== 201) throw unexpected('create the demo API key', answer);
  return parse(keyAnswer, 'POST /v1/api-keys', answer).api_key;
}

/** 24 characters of base64url: 144 random bits, well past the gateway's 8-character minimum. */
function newPassword(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * Makes sure a demo organization, an owner user and an owner API key exist, through the gateway's own REST API
 * (`/v1/auth/register`, `/v1/api-keys`), and that the credentials file holds their secrets. Stored credentials
 * are reused while the gateway accepts their key, so every start of a dev stack prints the same key.
 * @throws {DemoTenantError} when the gateway refuses a provisioning call for a reason other than the ones handled.
 */
export async function ensureDemoTenant(options: DemoTenantOptions): Promise<DemoTenant> {
  const { call, file, logger } = options;
  const stored = readDemoCredentials(file);
  let email = options.email ?? DEMO_EMAIL;

  if ('credentials' in stored) {
    const saved = stored.credentials;
    if ((await keyOrganization(call, saved.apiKey)) === saved.organizationId) {
      return { credentials: saved, outcome: 'reused' };
    }
    email = saved.email;
    const session = await logIn(call, saved.email, saved.password);
    if (session) {
      logger.warn({ file }, `the demo API key in ${file} was rejected (revoked?); created a new one for ${email}`);
      const key = await createKey(call, session.token);
      const credentials: DemoCredentials = {
        ...saved,
        organizationId: session.organizationId,
        apiKey: key.key,
        apiKeyId: key.id,
        createdAt: new Date().toISOString(),
      };
      writeDemoCredentials(file, credentials);
      return { credentials, outcome: 'new-key' };
    }
    logger.warn(
      { file },
      `the demo credentials in ${file} belong to a database that no longer has them; creating a new demo tenant`,
    );
  } else if (stored.reason === 'invalid') {
    logger.warn({ file, problem: stored.problem }, `ignoring ${file} (${stored.problem}); creating a new demo tenant`);
  }

  const password = newPassword();
  let session = await register(call, email, password);
  if (!session) {
    // The database has this demo user, but its password left with a deleted credentials file; it cannot be
    // recovered (only its hash is stored), so leave that user alone and make another.
    const previous = email;
    email = `demo-${randomBytes(4).toString('hex')}@capstan.local`;
    logger.warn(`${previous} is registered but its password is not in ${file}; creating ${email} instead`);
    session = await register(call, email, password);
    if (!session) throw new DemoTenantError(`could not register a demo user: ${email} is already registered too`);
  }
  const key = await createKey(call, session.token);
  const credentials: DemoCredentials = {
    organizationId: session.organizationId,
    email,
    password,
    apiKey: key.key,
    apiKeyId: key.id,
    createdAt: new Date().toISOString(),
  };
  writeDemoCredentials(file, credentials);
  return { credentials, outcome: 'new-tenant' };
}
