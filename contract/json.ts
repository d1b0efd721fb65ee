/** Reading untyped JSON (a realm export, an annotation, a policy) without trusting its shape. */

export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The array's elements, or none when `v` is not an array. */
export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The array's strings (other elements dropped), or none when `v` is not an array. */
export const stringsIn = (v: unknown): string[] =>
  list(v).filter((x): x is string => typeof x === 'string');

/** The array's objects, or none when `v` is not an array. */
export const objectsIn = (v: unknown): JsonObject[] => list(v).filter(isObject);

/** The object's string-valued entries (labels, a selector), or none when `v` is not an object. */
export function stringRecord(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  return Object.fromEntries(
    Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}
