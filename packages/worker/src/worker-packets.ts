import { create } from '@bufbuild/protobuf';
import { ComponentRole, HandshakeSchema } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import { JobProgressSchema, JobResultSchema, JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { createPacket, type PacketOf, PROTOCOL_VERSION } from '@capstan/protocol';
import { SDK_VERSION, WORKER_TYPE } from './sdk-version.js';

/** Fields of a heartbeat. */
export interface HeartbeatFields {
  workerId: string;
  pool: string;
  activeJobs: number;
  maxParallelJobs: number;
  cpuLoad: number;
  memoryLoad: number;
  capabilities: readonly string[];
  labels: Readonly<Record<string, string>>;
  progressPct: number;
  lastMemo: string;
  agentName: string;
}

/** `BusPacket{heartbeat}` of a Capstan TS worker. */
export function heartbeatPacket(fields: HeartbeatFields): PacketOf<'heartbeat'> {
  return createPacket(
    {
      case: 'heartbeat',
      value: create(HeartbeatSchema, {
        workerId: fields.workerId,
        type: WORKER_TYPE,
        pool: fields.pool,
        activeJobs: fields.activeJobs,
        maxParallelJobs: fields.maxParallelJobs,
        cpuLoad: fields.cpuLoad,
        memoryLoad: fields.memoryLoad,
        capabilities: [...fields.capabilities],
        labels: { ...fields.labels },
        progressPct: fields.progressPct,
        lastMemo: fields.lastMemo,
        agentName: fields.agentName,
      }),
    },
    { senderId: fields.workerId },
  );
}

/**
 * `BusPacket{handshake}` of a worker: role WORKER, protocol version 1, and the feature flags the scheduler relies on.
 * `direct_dispatch` tells it that this worker also listens on `worker.<id>.jobs` (the official SDKs do not).
 */
export function handshakePacket(
  workerId: string,
  topics: readonly string[],
  directDispatch: boolean,
): PacketOf<'handshake'> {
  return createPacket(
    {
      case: 'handshake',
      value: create(HandshakeSchema, {
        componentId: workerId,
        role: ComponentRole.WORKER,
        supportedVersions: [PROTOCOL_VERSION],
        capabilities: {
          direct_dispatch: directDispatch,
          cancel: true,
          progress: true,
          heartbeats: true,
          compensation: true,
        },
        sdkVersion: SDK_VERSION,
        readyTopics: [...topics],
      }),
    },
    { senderId: workerId },
  );
}

/** `BusPacket{job_progress}` with status RUNNING. */
export function progressPacket(
  workerId: string,
  traceId: string,
  jobId: string,
  percent: number,
  message: string,
): PacketOf<'jobProgress'> {
  return createPacket(
    { case: 'jobProgress', value: create(JobProgressSchema, { jobId, percent, message, status: JobStatus.RUNNING }) },
    { senderId: workerId, traceId },
  );
}

/** Fields of a job result. */
export interface ResultFields {
  jobId: string;
  status: JobStatus;
  workerId: string;
  executionMs: number;
  resultPtr?: string;
  errorCode?: string;
  errorMessage?: string;
  artifactPtrs?: readonly string[];
}

/** `BusPacket{job_result}` on the trace of the dispatch. */
export function resultPacket(fields: ResultFields, traceId: string): PacketOf<'jobResult'> {
  return createPacket(
    {
      case: 'jobResult',
      value: create(JobResultSchema, {
        jobId: fields.jobId,
        status: fields.status,
        resultPtr: fields.resultPtr ?? '',
        workerId: fields.workerId,
        executionMs: BigInt(Math.max(0, Math.round(fields.executionMs))),
        errorCode: fields.errorCode ?? '',
        errorMessage: fields.errorMessage ?? '',
        artifactPtrs: [...(fields.artifactPtrs ?? [])],
      }),
    },
    { senderId: fields.workerId, traceId },
  );
}
