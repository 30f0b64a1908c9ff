import { CapstanSubjects, Streams, Subjects } from '@capstan/protocol';
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';

/** A JetStream stream Capstan relies on. */
export type StreamSpec = Partial<StreamConfig> & { name: string; subjects: string[] };

const DAY_NS = 24 * 60 * 60 * 1e9;

/**
 * The durable subjects. Submits and results are work queues (one ack removes the message) shared by scheduler
 * replicas through one durable pull consumer; Postgres stays the system of record, so these only have to bridge
 * consumer restarts. Dead letters are kept for a week for inspection.
 */
export function capstanStreams(opts: { replicas?: number } = {}): StreamSpec[] {
  const num_replicas = opts.replicas ?? 1;
  return [
    {
      name: Streams.submit,
      subjects: [Subjects.jobSubmit],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_msgs: 1_000_000,
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
