import { CapstanSubjects, Streams, Subjects } from '@capstan/protocol';
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';

/** A JetStream stream Capstan relies on. */
export type StreamSpec = Partial<StreamConfig> & { name: string; subjects: string[] };

const DAY_NS = 24 * 60 * 60 * 1e9;

/** Options of {@link capstanStreams}. */
export interface CapstanStreamOptions {
  /** JetStream replicas of every stream (3 on a 3-node cluster). @default 1 */
  replicas?: number;
  /**
   * Most submits waiting for a scheduler; beyond it JetStream refuses new submits (the gateway answers 429). A small
   * bound keeps admitted jobs' latency when offered load exceeds capacity. @default 1000000
   */
  submitBacklogMax?: number;
}

/**
 * The durable subjects. Submits and results are work queues (one ack removes the message) shared by scheduler
 * replicas through one durable pull consumer; Postgres stays the system of record, so these only have to bridge
 * consumer restarts. Dead letters are kept for a week for inspection.
 */
export function capstanStreams(opts: CapstanStreamOptions = {}): StreamSpec[] {
  const num_replicas = opts.replicas ?? 1;
  const submitMax = opts.submitBacklogMax ?? 1_000_000;
  return [
    {
      name: Streams.submit,
      subjects: [Subjects.jobSubmit],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      // Full → JetStream refuses the publish: admission control a submitter sees as an unacknowledged submit.
      discard: DiscardPolicy.New,
      max_msgs: submitMax,
      num_replicas,
    },
    {
      name: Streams.result,
      subjects: [Subjects.jobResult],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_msgs: 1_000_000,
      num_replicas,
    },
    {
      name: Streams.deadLetter,
      subjects: [CapstanSubjects.deadLetterAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: 7 * DAY_NS,
      max_bytes: 1024 * 1024 * 1024,
      num_replicas,
    },
  ];
}
