/** Everything needed to render one nats-server config file. */
export interface NatsNodeConfig {
  /** `server_name`; required by JetStream clustering. */
  serverName: string;
  /** Client port on 127.0.0.1. */
  port: number;
  /** HTTP monitoring port on 127.0.0.1. */
  monitorPort: number;
  /** Enable JetStream, stored in `storeDir`. */
  jetstream: boolean;
  /** JetStream store directory. */
  storeDir: string;
  /** `max_payload` in bytes; the server default (1 MiB) when undefined. */
  maxPayload?: number;
  /** Route settings when this node is part of a cluster. */
  cluster?: { name: string; port: number; routePorts: readonly number[] };
}

// The nats config syntax accepts JSON-style double-quoted strings.
const q = (value: string): string => JSON.stringify(value);

/**
 * Renders a nats-server config file. A file rather than flags because nats-server 2.9 has no command-line
 * flag for `max_payload`, and one format for every option is easier to read in a failing test's data dir.
 */
export function renderNatsConfig(config: NatsNodeConfig): string {
  const lines = [
    `server_name: ${q(config.serverName)}`,
    `listen: ${q(`127.0.0.1:${config.port}`)}`,
    `http: ${q(`127.0.0.1:${config.monitorPort}`)}`,
  ];
  if (config.maxPayload !== undefined) lines.push(`max_payload: ${config.maxPayload}`);
  if (config.jetstream) lines.push(`jetstream {\n  store_dir: ${q(config.storeDir)}\n}`);
  if (config.cluster) {
    const routes = config.cluster.routePorts.map((p) => q(`nats://127.0.0.1:${p}`)).join(', ');
    lines.push(
      `cluster {\n  name: ${q(config.cluster.name)}\n  listen: ${q(`127.0.0.1:${config.cluster.port}`)}\n  routes: [${routes}]\n}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
