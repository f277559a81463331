/**
 * A bounded, per-container cache of values read from SSM parameters, each
 * kept with the parameter version it was read at. SSM gives every
 * put-parameter --overwrite a new version, so an entry stays valid for as long
 * as that version is the one asked for: there is no TTL. Callers compare
 * versions for equality, not order: a parameter deleted and created again
 * starts again at version 1. Bounded by entry count, least
 * recently used first out, so memory stays bounded however many mailboxes
 * there are (a Standard parameter holds at most 4 KB).
 */
export interface Versioned<T> {
  readonly version: number;
  readonly value: T;
}

export class VersionedCache<T> {
  readonly #entries = new Map<string, Versioned<T>>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entry for `name` (and marks it recently used), whatever its version. */
  get(name: string): Versioned<T> | undefined {
    const entry = this.#entries.get(name);
    if (entry !== undefined) {
      // Map keeps insertion order: re-inserting moves the entry to the young end.
      this.#entries.delete(name);
      this.#entries.set(name, entry);
    }
    return entry;
  }

  set(name: string, version: number, value: T): void {
    this.#entries.delete(name);
    this.#entries.set(name, { version, value });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  delete(name: string): void {
    this.#entries.delete(name);
  }
}
