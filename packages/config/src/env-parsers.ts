/**
 * Conversions from environment strings to schema inputs. Each returns the raw string when it cannot convert, so
 * the schema rejects it and the error message shows exactly what the operator typed.
 */

/** `"4001"` → `4001`; anything that is not all digits stays a string. */
export function parseIntegerEnv(raw: string): unknown {
  const trimmed = raw.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : raw;
}

/** `true/false`, `1/0`, `yes/no`, `on/off` (any case) → boolean. */
export function parseBooleanEnv(raw: string): unknown {
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  return raw;
}

/** `"a, b,c"` → `["a", "b", "c"]` (blank entries dropped). */
export function parseListEnv(raw: string): unknown {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
