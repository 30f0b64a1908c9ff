import { ActorType } from '@capstan/gen/cordum/agent/v1/job_pb';
import type { PolicyCheckRequest } from '@capstan/gen/cordum/agent/v1/safety_pb';

/**
 * The request fields rules match on, resolved once per evaluation. Where CAP carries a value twice, the structured
 * `meta` wins and the top-level field is the fallback: tenant = `tenant` || `meta.tenant_id`,
 * actor = `meta.actor_id` || `principal_id`, label = `meta.labels[k]` ?? `labels[k]`.
 */
export interface RequestView {
  readonly request: PolicyCheckRequest;
  readonly topic: string;
  /** `topic` split on dots, once per request, for the topic globs of every rule. */
  readonly topicTokens: readonly string[];
  readonly tenant: string;
  readonly actorId: string;
  readonly actorType: 'human' | 'service' | 'unspecified';
  readonly capability: string;
  readonly riskTags: readonly string[];
  readonly requires: readonly string[];
  /** The label's value, or undefined when absent. */
  label(name: string): string | undefined;
}

const EMPTY: readonly string[] = [];

function own(map: { [k: string]: string } | undefined, key: string): string | undefined {
  return map !== undefined && Object.hasOwn(map, key) ? map[key] : undefined;
}

/** Builds the view of a request that match conditions read. */
export function createRequestView(request: PolicyCheckRequest): RequestView {
  const meta = request.meta;
  const actorType =
    meta?.actorType === ActorType.HUMAN ? 'human' : meta?.actorType === ActorType.SERVICE ? 'service' : 'unspecified';
  return {
    request,
    topic: request.topic,
    topicTokens: request.topic.split('.'),
    tenant: request.tenant || meta?.tenantId || '',
    actorId: meta?.actorId || request.principalId,
    actorType,
    capability: meta?.capability ?? '',
    riskTags: meta?.riskTags ?? EMPTY,
    requires: meta?.requires ?? EMPTY,
    label: (name) => own(meta?.labels, name) ?? own(request.labels, name),
  };
}
