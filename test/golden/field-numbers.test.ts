/**
 * Pins the CAP wire contract: every (message, field, number, type), enum value and RPC listed in
 * /work/shared/design/cap-wire.md, copied here by hand on purpose, checked against the descriptors generated from
 * proto/. A renumbered, retyped, renamed, added or removed field fails here before it can break a CAP SDK peer.
 * Notation follows cap-wire.md: str, i32, i64, f32, f64, b, bytes, Ts (google.protobuf.Timestamp), []T, map<k,v>.
 */
import { createRegistry, type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import { file_capstan_bus_v1_dead_letter } from '@capstan/gen/capstan/bus/v1/dead_letter_pb';
import { file_cordum_agent_v1_alert } from '@capstan/gen/cordum/agent/v1/alert_pb';
import { file_cordum_agent_v1_buspacket } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { file_cordum_agent_v1_handshake } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import { file_cordum_agent_v1_heartbeat } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import { file_cordum_agent_v1_job } from '@capstan/gen/cordum/agent/v1/job_pb';
import { file_cordum_agent_v1_safety } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { describe, expect, it } from 'vitest';

const CAP_PACKAGE = 'cordum.agent.v1';

const registry = createRegistry(
  file_cordum_agent_v1_alert,
  file_cordum_agent_v1_buspacket,
  file_cordum_agent_v1_handshake,
  file_cordum_agent_v1_heartbeat,
  file_cordum_agent_v1_job,
  file_cordum_agent_v1_safety,
  file_capstan_bus_v1_dead_letter,
);

/** [field name, field number, type in cap-wire.md notation] */
type FieldRow = readonly [name: string, number: number, type: string];

/**
 * cap-wire.md "Messages" and "Safety kernel service", verbatim. Where cap-wire.md writes a bare `map`
 * (Compensation env/labels, PolicyCheckRequest labels, PolicyRemediation add_labels) the value type is pinned as
 * map<str,str>, the type every other labels/env map in the table has.
 */
const CAP_MESSAGES: Readonly<Record<string, readonly FieldRow[]>> = {
  BusPacket: [
    ['trace_id', 1, 'str'],
    ['sender_id', 2, 'str'],
    ['created_at', 3, 'Ts'],
    ['protocol_version', 4, 'i32'],
    ['job_request', 10, 'JobRequest'],
    ['job_result', 11, 'JobResult'],
    ['heartbeat', 12, 'Heartbeat'],
    ['alert', 13, 'SystemAlert'],
    ['signature', 14, 'bytes'],
    ['job_progress', 15, 'JobProgress'],
    ['job_cancel', 16, 'JobCancel'],
    ['handshake', 17, 'Handshake'],
    ['auth_token', 18, 'str'],
  ],
  JobRequest: [
    ['job_id', 1, 'str'],
    ['topic', 2, 'str'],
    ['priority', 3, 'JobPriority'],
    ['context_ptr', 4, 'str'],
    ['adapter_id', 5, 'str'],
    ['env', 6, 'map<str,str>'],
    ['parent_job_id', 7, 'str'],
    ['workflow_id', 8, 'str'],
    ['step_index', 9, 'i32'],
    ['memory_id', 10, 'str'],
    ['context_hints', 11, 'ContextHints'],
    ['budget', 12, 'Budget'],
    ['tenant_id', 13, 'str'],
    ['principal_id', 14, 'str'],
    ['labels', 15, 'map<str,str>'],
    ['meta', 16, 'JobMetadata'],
    ['compensation', 17, 'Compensation'],
  ],
  ContextHints: [
    ['max_input_tokens', 1, 'i32'],
    ['allow_summarization', 2, 'b'],
    ['allow_retrieval', 3, 'b'],
    ['tags', 4, '[]str'],
  ],
  Budget: [
    ['max_input_tokens', 1, 'i64'],
    ['max_output_tokens', 2, 'i64'],
    ['max_total_tokens', 3, 'i64'],
    ['deadline_ms', 4, 'i64'],
  ],
  JobMetadata: [
    ['tenant_id', 1, 'str'],
    ['actor_id', 2, 'str'],
    ['actor_type', 3, 'ActorType'],
    ['idempotency_key', 4, 'str'],
    ['capability', 5, 'str'],
    ['risk_tags', 6, '[]str'],
    ['requires', 7, '[]str'],
    ['pack_id', 8, 'str'],
    ['labels', 9, 'map<str,str>'],
  ],
  Compensation: [
    ['topic', 1, 'str'],
    ['context_ptr', 2, 'str'],
    ['priority', 3, 'JobPriority'],
    ['adapter_id', 4, 'str'],
    ['env', 5, 'map<str,str>'],
    ['memory_id', 6, 'str'],
    ['context_hints', 7, 'ContextHints'],
    ['budget', 8, 'Budget'],
    ['tenant_id', 9, 'str'],
    ['principal_id', 10, 'str'],
    ['labels', 11, 'map<str,str>'],
    ['meta', 12, 'JobMetadata'],
  ],
  JobResult: [
    ['job_id', 1, 'str'],
    ['status', 2, 'JobStatus'],
    ['result_ptr', 3, 'str'],
    ['worker_id', 4, 'str'],
    ['execution_ms', 5, 'i64'],
    ['error_code', 6, 'str'],
    ['error_message', 7, 'str'],
    ['artifact_ptrs', 8, '[]str'],
  ],
  JobProgress: [
    ['job_id', 1, 'str'],
    ['step_id', 2, 'str'],
    ['percent', 3, 'i32'],
    ['message', 4, 'str'],
    ['result_ptr', 5, 'str'],
    ['artifact_ptrs', 6, '[]str'],
    ['status', 7, 'JobStatus'],
  ],
  JobCancel: [
    ['job_id', 1, 'str'],
    ['reason', 2, 'str'],
    ['requested_by', 3, 'str'],
  ],
  Heartbeat: [
    ['worker_id', 1, 'str'],
    ['region', 2, 'str'],
    ['type', 3, 'str'],
    ['cpu_load', 4, 'f32'],
    ['gpu_utilization', 5, 'f32'],
    ['active_jobs', 6, 'i32'],
    ['capabilities', 7, '[]str'],
    ['pool', 11, 'str'],
    ['max_parallel_jobs', 12, 'i32'],
    ['labels', 13, 'map<str,str>'],
    ['memory_load', 14, 'f32'],
    ['progress_pct', 15, 'i32'],
    ['last_memo', 16, 'str'],
    ['auth_token', 18, 'str'],
    ['agent_name', 19, 'str'],
  ],
  SystemAlert: [
    ['level', 1, 'str'],
    ['message', 2, 'str'],
    ['component', 3, 'str'],
    ['code', 4, 'str'],
  ],
  Handshake: [
    ['component_id', 1, 'str'],
    ['role', 2, 'ComponentRole'],
    ['supported_versions', 3, '[]i32'],
    ['capabilities', 4, 'map<str,b>'],
    ['sdk_version', 5, 'str'],
    ['ready_topics', 6, '[]str'],
  ],
  PolicyCheckRequest: [
    ['job_id', 1, 'str'],
    ['topic', 2, 'str'],
    ['tenant', 3, 'str'],
    ['priority', 4, 'JobPriority'],
    ['estimated_cost', 5, 'f64'],
    ['budget', 6, 'Budget'],
    ['principal_id', 7, 'str'],
    ['labels', 8, 'map<str,str>'],
    ['memory_id', 9, 'str'],
    ['effective_config', 10, 'bytes'],
    ['meta', 11, 'JobMetadata'],
    ['input_content', 20, 'bytes'],
    ['input_content_type', 21, 'str'],
    ['input_size_bytes', 22, 'i64'],
  ],
  PolicyCheckResponse: [
    ['decision', 1, 'DecisionType'],
    ['reason', 2, 'str'],
    ['redacted_context_ptr', 3, 'str'],
    ['policy_snapshot', 4, 'str'],
    ['rule_id', 5, 'str'],
    ['constraints', 6, 'PolicyConstraints'],
    ['approval_required', 7, 'b'],
    ['approval_ref', 8, 'str'],
    ['remediations', 9, '[]PolicyRemediation'],
  ],
  PolicyConstraints: [
    ['budgets', 1, 'BudgetConstraints'],
    ['sandbox', 2, 'SandboxProfile'],
    ['toolchain', 3, 'ToolchainConstraints'],
    ['diff', 4, 'DiffConstraints'],
    ['redaction_level', 5, 'str'],
  ],
  BudgetConstraints: [
    ['max_runtime_ms', 1, 'i64'],
    ['max_retries', 2, 'i32'],
    ['max_artifact_bytes', 3, 'i64'],
    ['max_concurrent_jobs', 4, 'i32'],
  ],
  SandboxProfile: [
    ['isolated', 1, 'b'],
    ['network_allowlist', 2, '[]str'],
    ['fs_read_only', 3, '[]str'],
    ['fs_read_write', 4, '[]str'],
  ],
  ToolchainConstraints: [
    ['allowed_tools', 1, '[]str'],
    ['allowed_commands', 2, '[]str'],
  ],
  DiffConstraints: [
    ['max_files', 1, 'i32'],
    ['max_lines', 2, 'i32'],
    ['deny_path_globs', 3, '[]str'],
  ],
  PolicyRemediation: [
    ['id', 1, 'str'],
    ['title', 2, 'str'],
    ['summary', 3, 'str'],
    ['replacement_topic', 4, 'str'],
    ['replacement_capability', 5, 'str'],
    ['add_labels', 6, 'map<str,str>'],
    ['remove_labels', 7, '[]str'],
  ],
  ListSnapshotsRequest: [],
  ListSnapshotsResponse: [['snapshots', 1, '[]str']],
};

/** cap-wire.md "Enums", with the value-name prefixes it states. */
const CAP_ENUMS: Readonly<Record<string, { prefix: string; values: readonly (readonly [string, number])[] }>> = {
  JobPriority: {
    prefix: 'JOB_PRIORITY_',
    values: [
      ['UNSPECIFIED', 0],
      ['INTERACTIVE', 1],
      ['BATCH', 2],
      ['CRITICAL', 3],
    ],
  },
  JobStatus: {
    prefix: 'JOB_STATUS_',
    values: [
      ['UNSPECIFIED', 0],
      ['PENDING', 1],
      ['SCHEDULED', 2],
      ['DISPATCHED', 3],
      ['RUNNING', 4],
      ['SUCCEEDED', 5],
      ['FAILED', 6],
      ['CANCELLED', 7],
      ['DENIED', 8],
      ['TIMEOUT', 9],
      ['FAILED_RETRYABLE', 10],
      ['FAILED_FATAL', 11],
    ],
  },
  ActorType: {
    prefix: 'ACTOR_TYPE_',
    values: [
      ['UNSPECIFIED', 0],
      ['HUMAN', 1],
      ['SERVICE', 2],
    ],
  },
  DecisionType: {
    prefix: 'DECISION_TYPE_',
    values: [
      ['UNSPECIFIED', 0],
      ['ALLOW', 1],
      ['DENY', 2],
      ['REQUIRE_HUMAN', 3],
      ['THROTTLE', 4],
      ['ALLOW_WITH_CONSTRAINTS', 5],
      ['QUARANTINE', 6],
      ['REDACT', 7],
    ],
  },
  ComponentRole: {
    prefix: 'COMPONENT_ROLE_',
    values: [
      ['UNSPECIFIED', 0],
      ['GATEWAY', 1],
      ['SCHEDULER', 2],
      ['WORKER', 3],
      ['ORCHESTRATOR', 4],
      ['CONTROLLER', 5],
    ],
  },
};

/** cap-wire.md: rpc Check, Evaluate, Explain, Simulate: PolicyCheckRequest → PolicyCheckResponse; ListSnapshots. */
const SAFETY_KERNEL_RPCS: readonly (readonly [name: string, input: string, output: string])[] = [
  ['Check', 'PolicyCheckRequest', 'PolicyCheckResponse'],
  ['Evaluate', 'PolicyCheckRequest', 'PolicyCheckResponse'],
  ['Explain', 'PolicyCheckRequest', 'PolicyCheckResponse'],
  ['Simulate', 'PolicyCheckRequest', 'PolicyCheckResponse'],
  ['ListSnapshots', 'ListSnapshotsRequest', 'ListSnapshotsResponse'],
];

/** Capstan's own DeadLetter record (proto/capstan/bus/v1/dead_letter.proto; not CAP, but also on the wire). */
const DEAD_LETTER: readonly FieldRow[] = [
  ['subject', 1, 'str'],
  ['code', 2, 'str'],
  ['reason', 3, 'str'],
  ['sender_id', 4, 'str'],
  ['trace_id', 5, 'str'],
  ['original', 6, 'bytes'],
  ['consumer', 7, 'str'],
  ['received_at', 8, 'Ts'],
];

const SCALAR_NOTATION: Partial<Record<ScalarType, string>> = {
  [ScalarType.STRING]: 'str',
  [ScalarType.INT32]: 'i32',
  [ScalarType.INT64]: 'i64',
  [ScalarType.FLOAT]: 'f32',
  [ScalarType.DOUBLE]: 'f64',
  [ScalarType.BOOL]: 'b',
  [ScalarType.BYTES]: 'bytes',
};

function scalarNotation(type: ScalarType): string {
  // Types cap-wire.md never uses (uint32, sint64, fixed64...) print as their proto name, so they fail loudly.
  return SCALAR_NOTATION[type] ?? ScalarType[type].toLowerCase();
}

function namedType(typeName: string): string {
  if (typeName === 'google.protobuf.Timestamp') return 'Ts';
  // CAP types are written unqualified in cap-wire.md; anything from another package keeps its full name.
  return typeName.startsWith(`${CAP_PACKAGE}.`) ? typeName.slice(CAP_PACKAGE.length + 1) : typeName;
}

/** A field's type in cap-wire.md notation. */
function fieldNotation(field: DescField): string {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarNotation(field.scalar);
    case 'enum':
      return namedType(field.enum.typeName);
    case 'message':
      return namedType(field.message.typeName);
    case 'list':
      if (field.listKind === 'scalar') return `[]${scalarNotation(field.scalar)}`;
      return `[]${namedType(field.listKind === 'enum' ? field.enum.typeName : field.message.typeName)}`;
    case 'map': {
      const value =
        field.mapKind === 'scalar'
          ? scalarNotation(field.scalar)
          : namedType(field.mapKind === 'enum' ? field.enum.typeName : field.message.typeName);
      return `map<${scalarNotation(field.mapKey)},${value}>`;
    }
  }
}

function rowsOf(message: DescMessage): FieldRow[] {
  return [...message.fields]
    .sort((a, b) => a.number - b.number)
    .map((f) => [f.name, f.number, fieldNotation(f)] as const);
}

function capMessage(name: string): DescMessage {
  const message = registry.getMessage(`${CAP_PACKAGE}.${name}`);
  if (!message) throw new Error(`message ${CAP_PACKAGE}.${name} (listed in cap-wire.md) is not generated from proto/`);
  return message;
}

/** Reserved field numbers of a message, expanded (DescriptorProto ranges are end-exclusive). */
function reservedNumbers(message: DescMessage): number[] {
  return message.proto.reservedRange.flatMap((r) => Array.from({ length: r.end - r.start }, (_, i) => r.start + i));
}

describe('CAP messages match cap-wire.md field for field', () => {
  it.each(Object.entries(CAP_MESSAGES))('%s', (name, expected) => {
    expect(rowsOf(capMessage(name))).toEqual([...expected].sort((a, b) => a[1] - b[1]));
  });

  it('every CAP message in proto/ is pinned in this table (a new message needs a row here and in cap-wire.md)', () => {
    const generated = [...registry]
      .filter((d) => d.kind === 'message' && d.typeName.startsWith(`${CAP_PACKAGE}.`))
      .map((d) => d.typeName.slice(CAP_PACKAGE.length + 1))
      .sort();
    expect(generated).toEqual(Object.keys(CAP_MESSAGES).sort());
  });

  it('BusPacket payload oneof holds exactly job_request..handshake (10-13, 15-17); signature and auth_token stay outside', () => {
    const packet = capMessage('BusPacket');
    expect(packet.oneofs.map((o) => o.name)).toEqual(['payload']);
    const members = packet.oneofs[0]!.fields.map((f) => [f.name, f.number] as const).sort((a, b) => a[1] - b[1]);
    expect(members).toEqual([
      ['job_request', 10],
      ['job_result', 11],
      ['heartbeat', 12],
      ['alert', 13],
      ['job_progress', 15],
      ['job_cancel', 16],
      ['handshake', 17],
    ]);
    for (const name of ['trace_id', 'sender_id', 'created_at', 'protocol_version', 'signature', 'auth_token']) {
      expect(packet.fields.find((f) => f.name === name)?.oneof, name).toBeUndefined();
    }
  });

  it('numbers CAP uses elsewhere or retired are reserved: BusPacket 19-22, Heartbeat 8, 9, 10 and 17', () => {
    expect(reservedNumbers(capMessage('BusPacket'))).toEqual([19, 20, 21, 22]);
    expect(reservedNumbers(capMessage('Heartbeat'))).toEqual([8, 9, 10, 17]);
  });

  it('no CAP field uses proto3 `optional` (explicit presence would put zero values on the wire and change signatures)', () => {
    const explicit = Object.keys(CAP_MESSAGES).flatMap((name) =>
      capMessage(name)
        .fields.filter((f) => f.proto.proto3Optional)
        .map((f) => `${name}.${f.name}`),
    );
    expect(explicit).toEqual([]);
  });
});

describe('CAP enums match cap-wire.md value for value', () => {
  it.each(Object.entries(CAP_ENUMS))('%s', (name, { prefix, values }) => {
    const desc = registry.getEnum(`${CAP_PACKAGE}.${name}`);
    if (!desc) throw new Error(`enum ${CAP_PACKAGE}.${name} (listed in cap-wire.md) is not generated from proto/`);
    expect(desc.values.map((v) => [v.name, v.number])).toEqual(values.map(([n, no]) => [`${prefix}${n}`, no]));
  });

  it('every CAP enum in proto/ is pinned in this table', () => {
    const generated = [...registry]
      .filter((d) => d.kind === 'enum' && d.typeName.startsWith(`${CAP_PACKAGE}.`))
      .map((d) => d.typeName.slice(CAP_PACKAGE.length + 1))
      .sort();
    expect(generated).toEqual(Object.keys(CAP_ENUMS).sort());
  });
});

describe('SafetyKernel service matches cap-wire.md', () => {
  it('has exactly Check, Evaluate, Explain, Simulate and ListSnapshots with the listed request/response types', () => {
    const service = registry.getService(`${CAP_PACKAGE}.SafetyKernel`);
    if (!service) throw new Error(`service ${CAP_PACKAGE}.SafetyKernel is not generated from proto/`);
    expect(
      service.methods.map((m) => [m.name, namedType(m.input.typeName), namedType(m.output.typeName), m.methodKind]),
    ).toEqual(SAFETY_KERNEL_RPCS.map(([n, i, o]) => [n, i, o, 'unary']));
  });
});

describe("Capstan's own wire records", () => {
  it('capstan.bus.v1.DeadLetter keeps its field numbers', () => {
    const message = registry.getMessage('capstan.bus.v1.DeadLetter');
    if (!message) throw new Error('message capstan.bus.v1.DeadLetter is not generated from proto/');
    expect(rowsOf(message)).toEqual(DEAD_LETTER);
  });
});
