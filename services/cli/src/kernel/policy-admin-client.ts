import { PolicyAdmin } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { type Client, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import type { KernelEndpoint } from './kernel-endpoint.js';
import { toKernelError } from './kernel-errors.js';

/** A Connect client of the kernel's `capstan.policy.v1.PolicyAdmin` service. */
export type PolicyAdminClient = Client<typeof PolicyAdmin>;

/** Options of {@link createPolicyAdminClient}. */
export interface PolicyAdminClientOptions {
  /**
   * Deadline of each call in milliseconds (replaying many recorded requests in Simulate takes a while).
   * @default 30000
   */
  timeoutMs?: number;
}

/**
 * A PolicyAdmin client over the Connect protocol on HTTP/1.1 (the kernel serves Connect, gRPC and gRPC-Web on
 * one port; HTTP/1.1 needs no connection setup beyond TCP, which suits a one-shot CLI).
 */
export function createPolicyAdminClient(
  endpoint: KernelEndpoint,
  options: PolicyAdminClientOptions = {},
): PolicyAdminClient {
  const transport = createConnectTransport({
    baseUrl: endpoint.url,
    httpVersion: '1.1',
    defaultTimeoutMs: options.timeoutMs ?? 30_000,
  });
  return createClient(PolicyAdmin, transport);
}

/**
 * Runs one kernel call; a failure becomes a {@link KernelUnreachableError} or {@link KernelRequestError} whose
 * message names the URL (and its source) or the kernel's issues, described as `what` ("upload").
 */
export async function callKernel<T>(endpoint: KernelEndpoint, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toKernelError(endpoint, what, error);
  }
}
