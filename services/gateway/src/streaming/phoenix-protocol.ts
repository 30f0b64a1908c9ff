/**
 * The Phoenix Channels v2 wire format (JSON serializer `vsn=2.0.0`) that CACP clients speak: every frame is a JSON
 * array `[join_ref, ref, topic, event, payload]`. Clients join a topic with `phx_join` and get a `phx_reply`
 * `{status, response}` echoing the `ref`; server pushes carry the channel's `join_ref` and a null `ref`; `phx_close`
 * ends a channel, `phx_error` reports a channel crash; `heartbeat` on topic `phoenix` keeps the socket alive.
 */

/** A join ref or message ref as the client sent it (phoenix.js sends strings; numbers are echoed as-is). */
export type PhoenixRef = string | number | null;

/** One decoded frame. */
export interface PhoenixFrame {
  joinRef: PhoenixRef;
  ref: PhoenixRef;
  topic: string;
  event: string;
  payload: Record<string, unknown>;
}

/** Event names of the protocol. */
export const PhoenixEvent = {
  join: 'phx_join',
  leave: 'phx_leave',
  reply: 'phx_reply',
  close: 'phx_close',
  error: 'phx_error',
  heartbeat: 'heartbeat',
} as const;

/** Topic of socket-level messages (heartbeats). */
export const PHOENIX_TOPIC = 'phoenix';

/** The serializer version this gateway speaks (`vsn` query parameter). */
export const PHOENIX_VSN = '2.0.0';

/** Result of {@link parseFrame}. */
export type ParsedFrame = { ok: true; frame: PhoenixFrame } | { ok: false; reason: string; ref: PhoenixRef };

const isRef = (value: unknown): value is PhoenixRef =>
  value === null ||
  (typeof value === 'string' && value.length <= 64) ||
  (typeof value === 'number' && Number.isFinite(value));

/** Decodes one text frame; says what is wrong (and the ref, when readable) instead of throwing. */
export function parseFrame(text: string): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'frame is not JSON; expected [join_ref, ref, topic, event, payload]', ref: null };
  }
  if (!Array.isArray(value) || value.length !== 5) {
    return { ok: false, reason: 'frame must be a JSON array [join_ref, ref, topic, event, payload]', ref: null };
  }
  const [joinRef, ref, topic, event, payload] = value as unknown[];
  const readableRef = isRef(ref) ? ref : null;
  if (!isRef(joinRef) || !isRef(ref)) {
    return { ok: false, reason: 'join_ref and ref must be strings, numbers or null', ref: readableRef };
  }
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > 256) {
    return { ok: false, reason: 'topic must be a non-empty string of at most 256 characters', ref: readableRef };
  }
  if (typeof event !== 'string' || event.length === 0 || event.length > 64) {
    return { ok: false, reason: 'event must be a non-empty string of at most 64 characters', ref: readableRef };
  }
  if (payload !== null && (typeof payload !== 'object' || Array.isArray(payload))) {
    return { ok: false, reason: 'payload must be a JSON object', ref: readableRef };
  }
  return {
    ok: true,
    frame: { joinRef, ref, topic, event, payload: (payload ?? {}) as Record<string, unknown> },
  };
}

/** Encodes a frame whose payload is already JSON text (pushes share one serialized payload across sockets). */
export function encodeRaw(
  joinRef: PhoenixRef,
  ref: PhoenixRef,
  topic: string,
  event: string,
  payloadJson: string,
): string {
  return `[${JSON.stringify(joinRef)},${JSON.stringify(ref)},${JSON.stringify(topic)},${JSON.stringify(event)},${payloadJson}]`;
}

/** Encodes a frame. */
export function encodeFrame(
  joinRef: PhoenixRef,
  ref: PhoenixRef,
  topic: string,
  event: string,
  payload: unknown,
): string {
  return JSON.stringify([joinRef, ref, topic, event, payload]);
}

/** A `phx_reply` to the message with `ref`. */
export function encodeReply(
  joinRef: PhoenixRef,
  ref: PhoenixRef,
  topic: string,
  status: 'ok' | 'error',
  response: Record<string, unknown>,
): string {
  return encodeFrame(joinRef, ref, topic, PhoenixEvent.reply, { status, response });
}
