import { TestkitArgumentError } from './errors.js';

/** Checks a port option; `what` names the option in the error. Undefined means "pick a free port". */
export function assertPort(port: number | undefined, what: string): void {
  if (port === undefined) return;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new TestkitArgumentError(`${what}: invalid port ${port}; expected an integer from 1 to 65535`);
  }
}
