/**
 * The IPC conversation between the bench runner and the processes it forks: `{ stop: true }` ends a process;
 * `{ ask, id }` asks it for a named value (e.g. its receive stamps) and it answers `{ id, value }`.
 */

/** What a bench process can be asked for, by name. */
export type ProcAnswers = Record<string, () => unknown>;

/** Inside a bench process: answers the runner's questions and stops on `{ stop: true }`. Always answers `memory`. */
export function serveRunner(stop: () => Promise<void>, extra: ProcAnswers = {}): void {
  const answers: ProcAnswers = { memory: () => process.memoryUsage(), ...extra };
  process.on('message', (m: { stop?: boolean; ask?: string; id?: number }) => {
    if (m.stop) {
      void stop().then(() => process.exit(0));
      return;
    }
    if (m.ask !== undefined) {
      const answer = answers[m.ask];
      process.send?.({ id: m.id, value: answer ? answer() : undefined, error: answer ? undefined : `no ${m.ask}` });
    }
  });
  process.on('SIGTERM', () => void stop().then(() => process.exit(0)));
  // The runner died (crashed, killed): its IPC channel closed. Leave no orphan behind, and don't wait for a
  // graceful stop whose servers may be gone too.
  process.on('disconnect', () => process.exit(1));
}
