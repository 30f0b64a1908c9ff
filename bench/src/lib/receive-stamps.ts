/**
 * Receive timestamps taken inside a bench process. `process.hrtime` reads CLOCK_MONOTONIC, one clock for every
 * process on the machine, so a stamp taken in the scheduler and one taken in the worker can be subtracted.
 */
import type { Bus } from '@capstan/bus';
import type { BusPacket } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import type { PayloadCase } from '@capstan/protocol';

/** Now on the machine-wide monotonic clock, in µs (a double holds it exactly: ~1e13 µs after weeks of uptime). */
export const monotonicMicros = (): number => Number(process.hrtime.bigint()) / 1000;

/** Stamps of one process: job id → µs on the monotonic clock when its packet reached a handler. */
export interface ReceiveStamps {
  /** The stamps taken so far; emptied by the call (a scenario takes them once per phase). */
  take(): Record<string, number>;
}

type Handler = (packet: BusPacket, ctx: unknown) => unknown;

/**
 * Wraps a bus so the first handler call for each `jobRequest` packet (consumed from sys.job.submit by the
 * scheduler, or dispatched to a worker) is stamped at handler entry, after the bus decoded and validated it: the
 * moment the component's own code receives the job. Packets and handlers are otherwise untouched.
 */
export function stampJobRequests(bus: Bus): { bus: Bus; stamps: ReceiveStamps } {
  let stamps: Record<string, number> = {};
  const kind: PayloadCase = 'jobRequest';
  const wrap =
    (handler: Handler): Handler =>
    (packet, ctx) => {
      if (packet.payload.case === kind) stamps[packet.payload.value.jobId] ??= monotonicMicros();
      return handler(packet, ctx);
    };
  const wrapped = new Proxy(bus, {
    get(target, prop, receiver) {
      if (prop === 'consume')
        return (opts: Parameters<Bus['consume']>[0]) =>
          target.consume({ ...opts, handler: wrap(opts.handler as Handler) as typeof opts.handler });
      if (prop === 'subscribe')
        return (subject: string, opts: Parameters<Bus['subscribe']>[1]) =>
          target.subscribe(subject, { ...opts, handler: wrap(opts.handler as Handler) as typeof opts.handler });
      return Reflect.get(target, prop, receiver);
    },
  });
  return {
    bus: wrapped,
    stamps: {
      take() {
        const out = stamps;
        stamps = {};
        return out;
      },
    },
  };
}
