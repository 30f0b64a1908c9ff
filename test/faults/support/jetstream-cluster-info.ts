import type { NatsHandle } from '@capstan/testkit';
import type { NatsConnection } from '@nats-io/nats-core';

/** Where a clustered stream (or consumer) lives: its leader and its replicas. */
export interface PlacementInfo {
  /** Server name of the leader; empty while none is elected. */
  leader: string;
  replicas: { name: string; current: boolean; lagMessages: number }[];
  numReplicas: number;
}

/** The parts of a JetStream `STREAM.INFO` / `CONSUMER.INFO` answer read here. */
interface InfoAnswer {
  error?: { code?: number; description?: string };
  config?: { num_replicas?: number };
  cluster?: { leader?: string; replicas?: { name: string; current: boolean; lag?: number }[] };
}

/**
 * Asks JetStream where `stream` (and, given `consumer`, that durable consumer) is placed, through the JetStream API
 * subjects (`$JS.API.STREAM.INFO.<stream>`, `$JS.API.CONSUMER.INFO.<stream>.<consumer>`). Throws when it cannot say
 * (no leader yet: the request times out or answers an error).
 */
export async function placementOf(
  nc: NatsConnection,
  stream: string,
  consumer?: string,
  timeoutMs = 2000,
): Promise<PlacementInfo> {
  const subject = consumer ? `$JS.API.CONSUMER.INFO.${stream}.${consumer}` : `$JS.API.STREAM.INFO.${stream}`;
  const reply = await nc.request(subject, '', { timeout: timeoutMs });
  const info = JSON.parse(new TextDecoder().decode(reply.data)) as InfoAnswer;
  if (info.error) throw new Error(`${subject} answered ${info.error.code}: ${info.error.description}`);
  return {
    leader: info.cluster?.leader ?? '',
    replicas: (info.cluster?.replicas ?? []).map((r) => ({
      name: r.name,
      current: r.current,
      lagMessages: r.lag ?? 0,
    })),
    numReplicas: info.config?.num_replicas ?? 0,
  };
}

/** Names of the client connections a nats-server node serves now (`/connz`): which Capstan processes it carries. */
export async function connectionsOf(node: NatsHandle): Promise<string[]> {
  const res = await fetch(`${node.monitorUrl}/connz?limit=1024`, { signal: AbortSignal.timeout(2000) });
  const body = (await res.json()) as { connections?: { name?: string }[] };
  return (body.connections ?? []).map((c) => c.name ?? '(unnamed)');
}
