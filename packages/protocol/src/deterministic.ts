import { type DescMessage, type MessageShape, toBinary } from '@bufbuild/protobuf';

/**
 * Deterministic binary encoding, byte-compatible with Go's `proto.MarshalOptions{Deterministic: true}`:
 * fields in field-number order (protobuf-es already does this), map entries sorted by key (string keys by their
 * UTF-8 bytes, numeric keys numerically, false before true), unknown fields last. Signatures are computed over it.
 */
export function toDeterministicBinary<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  return toBinary(schema, sortMaps(schema, message) as MessageShape<Desc>);
}

type Rec = Record<string, unknown>;

function sortMaps(schema: DescMessage, message: unknown): unknown {
  const src = message as Rec;
  let out: Rec | undefined;
  const set = (key: string, value: unknown) => {
    if (value === src[key]) return;
    out ??= Object.assign(Object.create(Object.getPrototypeOf(src)), src) as Rec;
    out[key] = value;
  };
  for (const field of schema.fields) {
    const name = field.localName;
    if (field.oneof) {
      const oneof = src[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (oneof?.case === name && field.fieldKind === 'message') {
        const value = sortMaps(field.message, oneof.value);
        if (value !== oneof.value) set(field.oneof.localName, { case: name, value });
      }
      continue;
    }
    const value = src[name];
    if (value === undefined || value === null) continue;
    switch (field.fieldKind) {
      case 'map': {
        const record = value as Rec;
        const keys = Object.keys(record);
        const sorted = [...keys].sort(mapKeyComparator(field.mapKey));
        const msgDesc = field.mapKind === 'message' ? field.message : undefined;
        const next: Rec = {};
        let changed = keys.some((k, i) => k !== sorted[i]);
        for (const k of sorted) {
          const v = msgDesc ? sortMaps(msgDesc, record[k]) : record[k];
          if (v !== record[k]) changed = true;
          next[k] = v;
        }
        // JS objects always list integer-like keys first ("9" before "10"), whatever the insertion order, and
        // protobuf-es writes map entries in Object.keys order: a proxy makes the key order exactly `sorted`.
        if (changed || sorted.some((k) => INTEGER_LIKE.test(k))) set(name, new Proxy(next, { ownKeys: () => sorted }));
        break;
      }
      case 'list': {
        if (field.listKind !== 'message') break;
        const list = value as unknown[];
        const next = list.map((v) => sortMaps(field.message, v));
        if (next.some((v, i) => v !== list[i])) set(name, next);
        break;
      }
      case 'message':
        set(name, sortMaps(field.message, value));
        break;
      default:
        break;
    }
  }
  return out ?? src;
}

const utf8 = new TextEncoder();
const INTEGER_LIKE = /^(0|[1-9]\d*)$/;

function mapKeyComparator(keyType: number): (a: string, b: string) => number {
  // ScalarType: STRING = 9, BOOL = 8; everything else is an integer type.
  if (keyType === 9) return (a, b) => Buffer.compare(utf8.encode(a), utf8.encode(b));
  if (keyType === 8) return (a, b) => (a === b ? 0 : a === 'false' ? -1 : 1);
  return (a, b) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}
