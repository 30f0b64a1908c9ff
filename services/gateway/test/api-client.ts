/** A response as the tests inspect it. */
// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Options of one request. */
export interface RequestOptions {
  /** JSON body (serialized), or a raw string with `rawBody`. */
  body?: unknown;
  rawBody?: string;
  contentType?: string;
  /** Sent as X-API-Key. */
  key?: string;
  /** Sent as Authorization: Bearer. */
  token?: string;
  headers?: Record<string, string>;
}

/** Minimal HTTP client for the gateway tests (real HTTP via fetch). */
export function apiClient(baseUrl: string) {
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  return async function call<T = any>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers['x-api-key'] = options.key;
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) {
      body = options.rawBody;
      headers['content-type'] = options.contentType ?? 'application/json';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  };
}

/** The client type. */
export type ApiCall = ReturnType<typeof apiClient>;

let counter = 0;

/** Registers a fresh organization with an owner user; returns its token, org id and email. */
export async function registerOrg(api: ApiCall, label = 'org') {
  counter++;
  const email = `${label}-${process.pid}-${counter}-${Date.now()}@example.test`;
  const res = await api('POST', '/v1/auth/register', {
    body: {
      organization_name: `${label} ${counter}`,
      user_name: `Owner ${counter}`,
      email,
      password: 'correct horse battery',
    },
  });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return {
    token: res.body.token as string,
    organizationId: res.body.organization.id as string,
    userId: res.body.user.id as string,
    email,
    password: 'correct horse battery',
  };
}

/** Creates an API key with the given role/scopes for the holder of `token`. */
export async function createKey(
  api: ApiCall,
  token: string,
  spec: { role?: string; scopes?: string[]; name?: string } = {},
) {
  const res = await api('POST', '/v1/api-keys', { token, body: { name: spec.name ?? 'test key', ...spec } });
  if (res.status !== 201) throw new Error(`create key failed: ${res.status} ${res.text}`);
  return { key: res.body.api_key.key as string, id: res.body.api_key.id as string };
}
