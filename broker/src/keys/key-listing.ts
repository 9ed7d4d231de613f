/**
 * The account's keys as one shared, briefly cached GET /api_keys. Every decision about a key id (is it
 * this repository's? is it still there?) and every live-key count is made from this listing, never from
 * a per-id read: a read of an unknown id is a failed admin request at Venice, which a stranger could
 * repeat until the abuse guard blocks the admin key. Concurrent requests share one listing in flight;
 * a create or delete by this broker makes the next request list again (a listing that was already under
 * way when a key changed is not cached).
 */
import type { ListedKey } from '../../../core/venice-api.js';

export class KeyListing {
  private cached: { at: number; generation: number; keys: ListedKey[] } | undefined;
  private pending: { generation: number; keys: Promise<ListedKey[]> } | undefined;
  private generation = 0;

  constructor(
    private readonly list: () => Promise<ListedKey[]>,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /** A key was created or deleted: the next request lists again. */
  changed(): void {
    this.generation++;
    this.cached = undefined;
  }

  keys(): Promise<ListedKey[]> {
    const { generation } = this;
    if (this.cached && this.cached.generation === generation && this.now() - this.cached.at < this.ttlMs) {
      return Promise.resolve(this.cached.keys);
    }
    if (this.pending?.generation === generation) return this.pending.keys;
    const keys = this.list().then((listed) => {
      if (generation === this.generation) this.cached = { at: this.now(), generation, keys: listed };
      return listed;
    });
    const pending = { generation, keys };
    this.pending = pending;
    const clear = (): void => {
      if (this.pending === pending) this.pending = undefined;
    };
    keys.then(clear, clear);
    return keys;
  }
}
