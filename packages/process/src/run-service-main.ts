/** A started service, as the deployables' `start*Service` functions return it. */
export interface StoppableService {
  stop(): Promise<void>;
}

/** Options of {@link runServiceMain}. */
export interface RunServiceMainOptions<C> {
  /** Names the service in the start-failure message, e.g. `scheduler`. */
  name: string;
  /** Reads and validates the configuration (throws with a message naming each bad variable). */
  load(): C;
  start(config: C): Promise<StoppableService>;
  /**
   * Errors whose message is already the whole explanation (bad config, bad policy file): printed as they are.
   * Others get `<name> failed to start: ` in front.
   */
  explained(err: unknown): boolean;
  /** @default process.exit */
  exit?: (code: number) => void;
  /** @default console.error */
  report?: (message: string) => void;
}

/**
 * The body of a deployable's `main.ts`: load the config, start the service, and stop it gracefully once on
 * SIGINT/SIGTERM (exit 0, or 1 when stopping fails). A start failure prints one line and exits 1, so an operator
 * sees the reason instead of a stack trace.
 */
export async function runServiceMain<C>(options: RunServiceMainOptions<C>): Promise<void> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const report = options.report ?? ((message: string) => console.error(message));
  try {
    const service = await options.start(options.load());
    let stopping = false;
    const shutdown = () => {
      if (stopping) return;
      stopping = true;
      service.stop().then(
        () => exit(0),
        () => exit(1),
      );
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  } catch (err) {
    report(
      options.explained(err) ? (err as Error).message : `${options.name} failed to start: ${(err as Error).message}`,
    );
    exit(1);
  }
}
