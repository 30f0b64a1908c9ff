/** The gateway could not start: a dependency is unreachable or the database is not migrated. */
export class GatewayStartError extends Error {
  override readonly name = 'GatewayStartError';
}
