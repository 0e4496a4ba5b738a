/**
 * Lookups keyed by names that come from outside (a spec's domain, a topic's first segment, a
 * field name). Plain objects inherit `constructor`, `toString` and friends: read own properties only.
 */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

/** Does the record itself (not its prototype) hold `key`? */
export function hasOwn(record: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(record, key);
}
