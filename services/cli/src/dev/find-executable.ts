import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The apt command that installs everything `capstan dev` runs. */
export const DEV_APT_INSTALL = 'apt-get update && apt-get install -y nats-server redis-server';

/** Thrown when a server binary `capstan dev` needs is not installed. */
export class MissingExecutableError extends Error {
  override readonly name = 'MissingExecutableError';
  /** The executable that was looked for, e.g. `nats-server`. */
  readonly executable: string;

  constructor(executable: string, searched: readonly string[]) {
    super(
      `${executable} was not found on PATH (searched ${searched.join(', ')}). ` +
        `Install it with: ${DEV_APT_INSTALL} (as root), or run "npm run dev", which installs it for you.`,
    );
    this.executable = executable;
  }
}

/**
 * Finds an executable on PATH. The sbin directories are searched too because Debian installs nats-server in
 * /usr/sbin, which is not on a normal user's PATH.
 */
export function findExecutable(name: string, path: string = process.env.PATH ?? ''): string {
  const dirs = [
    ...new Set([
      ...path.split(delimiter).filter(Boolean),
      '/usr/local/sbin',
      '/usr/local/bin',
      '/usr/sbin',
      '/usr/bin',
    ]),
  ];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; keep looking.
    }
  }
  throw new MissingExecutableError(name, dirs);
}
