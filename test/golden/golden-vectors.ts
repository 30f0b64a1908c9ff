import { create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { type DeadLetter, DeadLetterSchema } from '@capstan/gen/capstan/bus/v1/dead_letter_pb';
import { type BusPacket, BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { ComponentRole } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import { ActorType, JobPriority, JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  DecisionType,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
  type PolicyCheckResponse,
  PolicyCheckResponseSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';

/**
 * One golden vector: `vectors/<name>.txtpb` (the text form, hand-written), `vectors/<name>.bin` (protoc's
 * deterministic encoding of it) and the same message built here in TypeScript, independently of both files.
 */
export interface GoldenVector {
  /** File stem under vectors/. */
  readonly name: string;
  /** Schema of the top-level message; its typeName is what protoc is asked to encode/decode. */
  readonly schema: DescMessage;
  /** Builds the expected message in TypeScript, with every map filled in a scrambled insertion order. */
  readonly build: () => MessageShape<DescMessage>;
}

const utf8 = new TextEncoder();

function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'hex'));
}

function bytes(...parts: (string | number[])[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'string' ? utf8.encode(p) : Uint8Array.from(p)))));
}

/**
 * A map object whose insertion order is the reverse of the wire order (keys descending by UTF-8 bytes), so an
 * encoder that writes map entries in insertion order produces different bytes than protoc. Integer-like keys
 * ("9", "10") are iterated first and ascending by every JavaScript object regardless of insertion, which is yet
 * another order that differs from the byte order ("10" < "9").
 */
export function scrambled<V>(entries: readonly (readonly [string, V])[]): Record<string, V> {
  const byUtf8 = (a: string, b: string) => Buffer.compare(utf8.encode(a), utf8.encode(b));
  const out: Record<string, V> = {};
  for (const [k, v] of [...entries].sort(([a], [b]) => byUtf8(b, a))) out[k] = v;
  return out;
}

const JOB_ID = '0b8e6c1e-2f4a-4d5b-9c7e-1a2b3c4d5e6f';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

function jobRequestPacket(): BusPacket {
  return create(BusPacketSchema, {
    traceId: TRACE_ID,
    senderId: 'capstan-gateway-1',
    createdAt: { seconds: 1767225600n, nanos: 123456789 },
    protocolVersion: 1,
    payload: {
      case: 'jobRequest',
      value: {
        jobId: JOB_ID,
        topic: 'job.chat.simple',
        priority: JobPriority.CRITICAL,
        contextPtr: `redis://ctx:${JOB_ID}`,
        adapterId: 'openai-compatible',
        env: scrambled([
          ['ZONE', 'eu-west-1'],
          ['région', 'île-de-france'],
          ['MODEL', 'gpt-4o-mini'],
          ['🚀', 'launch'],
          ['ｶ', 'halfwidth katakana'],
          ['EMPTY', ''],
        ]),
        parentJobId: 'parent-7f3d',
        workflowId: 'wf-onboarding-42',
        stepIndex: 3,
        memoryId: 'mem:customer-991',
        contextHints: {
          maxInputTokens: 8192,
          allowSummarization: true,
          allowRetrieval: true,
          tags: ['support', 'vip', '日本語'],
        },
        budget: {
          maxInputTokens: 8192n,
          maxOutputTokens: 9007199254740993n,
          maxTotalTokens: 9223372036854775807n,
          deadlineMs: 1767225660000n,
        },
        tenantId: 'tenant-acme',
        principalId: 'user:alice@example.com',
        labels: scrambled([
          ['team', 'support'],
          ['10', 'ten'],
          ['9', 'nine'],
          ['Ärger', 'umlaut'],
          ['ключ', 'значение'],
          ['env', 'prod'],
        ]),
        meta: {
          tenantId: 'tenant-acme',
          actorId: 'alice',
          actorType: ActorType.HUMAN,
          idempotencyKey: 'idem-2026-01-01-0001',
          capability: 'chat.reply',
          riskTags: ['pii', 'external-network'],
          requires: ['gpu', 'network'],
          packId: 'pack-support-v3',
          labels: scrambled([
            ['source', 'web'],
            ['☃', 'snowman'],
            ['channel', 'chat'],
          ]),
        },
        compensation: {
          topic: 'job.chat.retract',
          contextPtr: 'redis://ctx:comp-0b8e6c1e',
          priority: JobPriority.BATCH,
          adapterId: 'openai-compatible',
          env: scrambled([
            ['MODE', 'undo'],
            ['ÉTAPE', 'retour'],
            ['DRY_RUN', 'false'],
          ]),
          memoryId: 'mem:customer-991',
          contextHints: { maxInputTokens: 1024, allowSummarization: true, allowRetrieval: true, tags: ['rollback'] },
          budget: { maxInputTokens: 1024n, maxOutputTokens: 256n, maxTotalTokens: 1280n, deadlineMs: 1767225720000n },
          tenantId: 'tenant-acme',
          principalId: 'service:saga',
          labels: scrambled([
            ['saga', 'onboarding'],
            ['über', 'step-3'],
          ]),
          meta: {
            tenantId: 'tenant-acme',
            actorId: 'saga-controller',
            actorType: ActorType.SERVICE,
            idempotencyKey: 'idem-2026-01-01-0001-comp',
            capability: 'chat.retract',
            riskTags: ['destructive'],
            requires: ['network'],
            packId: 'pack-support-v3',
            labels: scrambled([
              ['reason', 'rollback'],
              ['attempt', '1'],
            ]),
          },
        },
      },
    },
    signature: hex(
      '3044022000c17fff800102030405060708090a0b0c0d0e0f101112131415161718191a1b0220fefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0df',
    ),
    authToken: 'bearer-token-gateway-1',
  });
}

function jobResultPacket(): BusPacket {
  return create(BusPacketSchema, {
    traceId: TRACE_ID,
    senderId: 'worker-echo-7',
    createdAt: { seconds: 1767225605n, nanos: 987000000 },
    protocolVersion: 1,
    payload: {
      case: 'jobResult',
      value: {
        jobId: JOB_ID,
        status: JobStatus.FAILED_RETRYABLE,
        resultPtr: `redis://res:${JOB_ID}`,
        workerId: 'worker-echo-7',
        executionMs: 4321n,
        errorCode: '201',
        errorMessage: 'upstream rate limit reached; retry after 2 s — «quota» épuisé',
        artifactPtrs: [`redis://res:${JOB_ID}:partial`, 's3://capstan-artifacts/0b8e6c1e/log.txt'],
      },
    },
    signature: hex(
      '30450221008a0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d02207f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e',
    ),
    authToken: 'worker-token-7',
  });
}

function heartbeatPacket(): BusPacket {
  return create(BusPacketSchema, {
    traceId: '00000000000000000000000000000001',
    senderId: 'worker-gpu-3',
    createdAt: { seconds: 1767225610n },
    protocolVersion: 1,
    payload: {
      case: 'heartbeat',
      value: {
        workerId: 'worker-gpu-3',
        region: 'eu-central-1',
        type: 'gpu',
        cpuLoad: 42.5,
        gpuUtilization: 87.25,
        activeJobs: 3,
        capabilities: ['chat', 'embeddings', 'vision'],
        pool: 'gpu-pool',
        maxParallelJobs: 8,
        labels: scrambled([
          ['zone', 'b'],
          ['gpu', 'a100'],
          ['机房', '法兰克福'],
          ['accelerator', 'nvidia'],
        ]),
        memoryLoad: 63.75,
        progressPct: 55,
        lastMemo: 'embedding batch 11/20',
        authToken: 'heartbeat-token-gpu-3',
        agentName: 'Frankfurt GPU worker №3',
      },
    },
    signature: hex('01020300ff'),
    authToken: 'worker-token-gpu-3',
  });
}

function alertPacket(): BusPacket {
  return create(BusPacketSchema, {
    traceId: '5c0a1b2c3d4e5f60718293a4b5c6d7e8',
    senderId: 'capstan-scheduler-1',
    createdAt: { seconds: 1767225620n, nanos: 1 },
    protocolVersion: 1,
    payload: {
      case: 'alert',
      value: {
        level: 'CRITICAL',
        message: 'no worker available for topic job.vision.ocr for 30 s',
        component: 'scheduler',
        code: '206',
      },
    },
    signature: hex('fffefd'),
    authToken: 'scheduler-token',
  });
}

function jobProgressPacket(): BusPacket {
  return create(BusPacketSchema, {
    traceId: TRACE_ID,
    senderId: 'worker-echo-7',
    createdAt: { seconds: 1767225603n, nanos: 500000000 },
    protocolVersion: 1,
    payload: {
      case: 'jobProgress',
      value: {
        jobId: JOB_ID,
        stepId: 'retrieve',
        percent: 40,
        message: 'fetched 4 of 10 documents',
        resultPtr: `redis://res:${JOB_ID}:partial`,
        artifactPtrs: [`redis://res:${JOB_ID}:doc-1`, `redis://res:${JOB_ID}:doc-2`],
        status: JobStatus.RUNNING,
      },
    },
    signature: hex('102030'),
    authToken: 'worker-token-7',
  });
}

function jobCancelPacket(): BusPacket {
  return create(BusPacketSchema, {
    traceId: TRACE_ID,
    senderId: 'capstan-gateway-1',
    createdAt: { seconds: 1767225604n },
    protocolVersion: 1,
    payload: {
      case: 'jobCancel',
      value: { jobId: JOB_ID, reason: 'user pressed stop', requestedBy: 'user:alice@example.com' },
    },
    signature: hex('00'),
    authToken: 'bearer-token-gateway-1',
  });
}

function handshakePacket(): BusPacket {
  return create(BusPacketSchema, {
    traceId: '7d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6',
    senderId: 'worker-echo-7',
    createdAt: { seconds: 1767225600n, nanos: 42 },
    protocolVersion: 1,
    payload: {
      case: 'handshake',
      value: {
        componentId: 'worker-echo-7',
        role: ComponentRole.WORKER,
        supportedVersions: [1, 2],
        capabilities: scrambled([
          ['signatures', true],
          ['progress', true],
          ['direct_dispatch', false],
          ['compensation', false],
          ['heartbeats', true],
          ['cancel', true],
        ]),
        sdkVersion: 'capstan-node/0.1.0',
        readyTopics: ['job.echo', 'job.chat.simple'],
      },
    },
    signature: hex('aabbccdd'),
    authToken: 'worker-token-7',
  });
}

function policyCheckRequest(): PolicyCheckRequest {
  return create(PolicyCheckRequestSchema, {
    jobId: JOB_ID,
    topic: 'job.chat.simple',
    tenant: 'tenant-acme',
    priority: JobPriority.INTERACTIVE,
    estimatedCost: 0.0375,
    budget: { maxInputTokens: 8192n, maxOutputTokens: 2048n, maxTotalTokens: 10240n, deadlineMs: 1767225660000n },
    principalId: 'user:alice@example.com',
    labels: scrambled([
      ['team', 'support'],
      ['ｶ', 'halfwidth'],
      ['🚀', 'astral'],
      ['env', 'prod'],
    ]),
    memoryId: 'mem:customer-991',
    effectiveConfig: bytes('{"safety":{"mode":"enforce"}}', [0x00, 0xff]),
    meta: {
      tenantId: 'tenant-acme',
      actorId: 'alice',
      actorType: ActorType.HUMAN,
      idempotencyKey: 'idem-2026-01-01-0001',
      capability: 'chat.reply',
      riskTags: ['pii'],
      requires: ['network'],
      packId: 'pack-support-v3',
      labels: scrambled([
        ['source', 'web'],
        ['channel', 'chat'],
      ]),
    },
    inputContent: bytes(`{"prompt":"Hallo, wie geht's?"}`),
    inputContentType: 'application/json',
    inputSizeBytes: 31n,
  });
}

function policyCheckResponse(): PolicyCheckResponse {
  return create(PolicyCheckResponseSchema, {
    decision: DecisionType.ALLOW_WITH_CONSTRAINTS,
    reason: 'allowed inside the support sandbox',
    redactedContextPtr: `redis://ctx:${JOB_ID}:redacted`,
    policySnapshot: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    ruleId: 'support-sandbox',
    constraints: {
      budgets: { maxRuntimeMs: 120000n, maxRetries: 3, maxArtifactBytes: 1099511627776n, maxConcurrentJobs: 4 },
      sandbox: {
        isolated: true,
        networkAllowlist: ['api.openai.com:443', '*.internal.example:8443'],
        fsReadOnly: ['/data/kb'],
        fsReadWrite: ['/tmp/job', '/var/cache/capstan'],
      },
      toolchain: { allowedTools: ['search', 'summarize'], allowedCommands: ['git status', 'ls -la'] },
      diff: { maxFiles: 10, maxLines: 500, denyPathGlobs: ['**/.env', 'secrets/**'] },
      redactionLevel: 'pii-strict',
    },
    approvalRequired: true,
    approvalRef: 'approval:7731',
    remediations: [
      {
        id: 'use-batch-pool',
        title: 'Run in the batch pool',
        summary: 'Interactive GPU capacity is reserved; the batch pool accepts this job.',
        replacementTopic: 'job.chat.batch',
        replacementCapability: 'chat.reply.batch',
        addLabels: scrambled([
          ['pool', 'batch'],
          ['priorité', 'basse'],
          ['cost-center', 'cc-42'],
        ]),
        removeLabels: ['gpu', 'urgent'],
      },
      {
        id: 'drop-pii',
        title: 'Remove personal data',
        summary: 'Strip the pii risk tag by redacting the input first.',
        replacementTopic: 'job.redact.pii',
        replacementCapability: 'redact.pii',
        addLabels: scrambled([['redacted', 'true']]),
        removeLabels: ['pii'],
      },
    ],
  });
}

function deadLetter(): DeadLetter {
  return create(DeadLetterSchema, {
    subject: 'sys.job.submit',
    code: '101',
    reason: 'not a protobuf cordum.agent.v1.BusPacket: premature EOF',
    senderId: 'capstan-gateway-1',
    traceId: TRACE_ID,
    original: hex('0a2061626300ff'),
    consumer: 'scheduler/submit',
    receivedAt: { seconds: 1767225699n, nanos: 999999999 },
  });
}

/** Every BusPacket vector: one per payload case. Each carries a signature and an auth_token. */
export const PACKET_VECTORS: readonly GoldenVector[] = [
  { name: 'job_request', schema: BusPacketSchema, build: jobRequestPacket },
  { name: 'job_result', schema: BusPacketSchema, build: jobResultPacket },
  { name: 'heartbeat', schema: BusPacketSchema, build: heartbeatPacket },
  { name: 'alert', schema: BusPacketSchema, build: alertPacket },
  { name: 'job_progress', schema: BusPacketSchema, build: jobProgressPacket },
  { name: 'job_cancel', schema: BusPacketSchema, build: jobCancelPacket },
  { name: 'handshake', schema: BusPacketSchema, build: handshakePacket },
];

/** Every vector, packets first, then the safety-kernel messages and Capstan's DeadLetter. */
export const ALL_VECTORS: readonly GoldenVector[] = [
  ...PACKET_VECTORS,
  { name: 'policy_check_request', schema: PolicyCheckRequestSchema, build: policyCheckRequest },
  { name: 'policy_check_response', schema: PolicyCheckResponseSchema, build: policyCheckResponse },
  { name: 'dead_letter', schema: DeadLetterSchema, build: deadLetter },
];
