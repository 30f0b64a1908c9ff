import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import { type LoggerOptions, resolveLoggerOptions } from './logger-options.js';

/** A Capstan logger: a pino logger whose lines carry at least `service`. */
export type CapstanLogger = Logger;

/**
 * Creates the JSON logger every Capstan service uses.
 *
 * Lines are one JSON object each with `level` as a label (`"info"`, not `30`) and an ISO `time`, so they read
 * the same in a terminal, in `jq` and in a log store. `service`, `pid` and `hostname` are on every line.
 */
export function createLogger(options: LoggerOptions): CapstanLogger {
  const resolved = resolveLoggerOptions(options);
  const base = { service: resolved.service, pid: process.pid, hostname: hostname() };
  if (resolved.pretty) {
    // pino-pretty as an in-process stream (not a worker-thread transport) so lines are written synchronously
    // and nothing is lost when a dev process exits right after logging.
    const stream = pretty({
      colorize: false,
      sync: true,
      destination: asNodeStream(resolved.destination),
      ignore: 'pid,hostname',
    });
    return pino({ level: resolved.level, base, timestamp: pino.stdTimeFunctions.isoTime }, stream);
  }
  const destination: DestinationStream =
    typeof resolved.destination === 'number'
      ? pino.destination({ dest: resolved.destination, sync: true })
      : resolved.destination;
  return pino(
    {
      level: resolved.level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** pino-pretty pipes into its destination, so a bare `{ write }` destination is wrapped in a Node stream. */
function asNodeStream(destination: number | DestinationStream): number | NodeJS.WritableStream {
  if (typeof destination === 'number' || typeof (destination as Partial<Writable>).on === 'function') {
    return destination as number | NodeJS.WritableStream;
  }
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      destination.write(chunk.toString());
      callback();
    },
  });
}
