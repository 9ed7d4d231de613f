/**
 * The warm pool: keys created while Venice's creation window is idle, kept inert (both caps 0,
 * LIFETIME, expiring within `pool.max-age`) in this replica's memory only (their secrets are never in
 * Redis or on disk), and re-shaped at a mint into exactly the key the caller was granted with one PATCH
 * (mint.ts). Creation is Venice's only limited step (20 a minute); a PATCH is not a creation, so a burst
 * of mints is served at the speed of a PATCH while the pool lasts, then at the window's rate.
 *
 * - Refill takes a turn only when no caller waits anywhere (queue.takeIdle: the fair queue's order is
 *   untouched), never while Venice holds the broker off, and never past `limits.active-keys` less a
 *   margin (counted from Venice's listing: every replica's pool and every live key).
 * - A key near the end of its life (a minute left) is deleted and replaced.
 * - On a drain every pool key is deleted (close). A replica killed with keys in its pool leaves them
 *   behind: every key's description names its deployment and replica (`vek:pool <deployment> <replica
 *   id> <token>`), and the reconciler (reap, through the leader) deletes those of this deployment's
 *   replicas whose heartbeat stopped; another broker's pool on the same account is never touched. In
 *   memory (one process, no Redis) the deployment is new at each start: a killed process's pool keys
 *   expire on their own within `max-age` (they can spend nothing).
 * Written here rather than with a pool library: a pool key costs a turn in a window shared by replicas,
 * and that decision is the shared queue's.
 */
import { newInvocationToken } from '../../../core/description-tag.js';
import { messageOf } from '../../../core/errors.js';
import { createKeyBody } from '../../../core/venice-api.js';
import type { VeniceClient } from '../../../core/venice-client.js';
import type { SharedState } from '../state/shared-state.js';
import type { KeyListing } from './key-listing.js';

/** Keys kept free of the account's active-key limit whatever the pool wants (for callers' creates). */
export const POOL_MARGIN = 10;
/** A pool key with less than this to live is replaced (its PATCH could meet an expired key). */
const REPLACE_BEFORE_MS = 60_000;
const DESCRIPTION = /^vek:pool ([0-9a-f]{8}) ([0-9a-f-]{36}) [0-9a-z]{6}$/;

export interface PoolKey {
  id: string;
  apiKey: string;
  /** When it expires unless re-shaped (epoch ms). */
  expiresAt: number;
}

export interface PoolDeps {
  size: number;
  maxAgeMs: number;
  activeKeys: number;
  /** The window's turns (limits.creates-per-minute): a full window is known without asking Venice. */
  perWindow: number;
  state: Pick<SharedState, 'queue' | 'brake' | 'replica' | 'deployment' | 'alive'>;
  venice: () => VeniceClient;
  listing: KeyListing;
  log: { info: (message: string) => void; warning: (message: string) => void };
  now: () => number;
  /** How often the pool looks at itself (refill, replacement). */
  tickMs: number;
  /** Told the pool's size whenever it changes (broker_pool_keys). */
  sized: (size: number) => void;
}

/** The deployment and replica a pool key's description names, or undefined for any other key. */
export function poolKeyOwner(description: string): { deployment: string; replica: string } | undefined {
  const match = DESCRIPTION.exec(description);
  return match ? { deployment: match[1] as string, replica: match[2] as string } : undefined;
}

export class WarmPool {
  private readonly keys: PoolKey[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failing = false;

  constructor(private readonly deps: PoolDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.tickMs);
    this.timer.unref();
    void this.tick();
  }

  size(): number {
    return this.keys.length;
  }

  /** The oldest key with life left, for a mint; undefined when the pool is empty. */
  take(): PoolKey | undefined {
    const at = this.keys.findIndex((key) => key.expiresAt - this.deps.now() > REPLACE_BEFORE_MS);
    const [key] = at < 0 ? [] : this.keys.splice(at, 1);
    if (key) this.resized();
    return key;
  }

  /** A key taken for a mint that was then refused before its PATCH: back into the pool. */
  giveBack(key: PoolKey): void {
    if (this.stopped) return void this.discard(key, 'the broker is stopping');
    this.keys.unshift(key);
    this.resized();
  }

  /** A key that must not go back (its PATCH failed or answered oddly): deleted at Venice. */
  async discard(key: Pick<PoolKey, 'id'>, why: string): Promise<void> {
    await this.deps
      .venice()
      .forCleanup()
      .deleteKey(key.id)
      .then(() => this.deps.listing.changed())
      .catch((error: unknown) =>
        this.deps.log.warning(`could not delete pool key ${key.id} (${why}): ${messageOf(error)}; it expires on its own.`),
      );
  }

  /** One look: replace keys near their end, then refill while the window is idle. One look at a time. */
  tick(): Promise<void> {
    this.running ??= this.look().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops refilling and deletes every key in the pool (a drain). */
  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    const keys = this.keys.splice(0);
    this.resized();
    await Promise.all(keys.map((key) => this.discard(key, 'the broker is stopping')));
    if (keys.length > 0) this.deps.log.info(`deleted the ${keys.length} key(s) of this replica's pool`);
  }

  /** Deletes the pool keys of replicas that stopped (killed before their drain): the reconciler calls it. */
  async reap(): Promise<number> {
    let reaped = 0;
    const { state } = this.deps;
    for (const key of await this.deps.listing.keys()) {
      const owner = poolKeyOwner(key.description);
      if (owner?.deployment !== state.deployment || owner.replica === state.replica || (await state.alive(owner.replica))) continue;
      const { replica } = owner;
      await this.discard(key, `its replica ${replica} stopped`);
      reaped++;
    }
    if (reaped > 0) this.deps.log.info(`deleted ${reaped} pool key(s) of stopped replicas`);
    return reaped;
  }

  private async look(): Promise<void> {
    const old = this.keys.filter((key) => key.expiresAt - this.deps.now() <= REPLACE_BEFORE_MS);
    for (const key of old) this.keys.splice(this.keys.indexOf(key), 1);
    if (old.length > 0) this.resized();
    await Promise.all(old.map((key) => this.discard(key, 'near the end of its life')));
    try {
      while (!this.stopped && this.keys.length < this.deps.size && (await this.mayRefill())) await this.refillOne();
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.deps.log.warning(`the pool could not refill: ${messageOf(error)}; it tries again.`);
      this.failing = true;
    }
  }

  /**
   * Venice not holding off, a turn free in the window, room under the active-key limit, and an idle turn
   * (taken if so). The cheap store checks come first: a full window never costs Venice a listing.
   */
  private async mayRefill(): Promise<boolean> {
    const { state, listing, activeKeys } = this.deps;
    if ((await state.brake.heldForMs()) > 0) return false;
    if ((await state.queue.windowCreates()) >= this.deps.perWindow) return false;
    if ((await listing.keys()).length + POOL_MARGIN >= activeKeys) return false;
    return state.queue.takeIdle();
  }

  private async refillOne(): Promise<void> {
    const { deps } = this;
    const description = `vek:pool ${deps.state.deployment} ${deps.state.replica} ${newInvocationToken()}`;
    const body = createKeyBody(
      { expiresInMs: deps.maxAgeMs, usdLimit: 0, diemLimit: 0, limitPeriod: 'LIFETIME', modelPrivacy: undefined },
      description,
      deps.now(),
    );
    try {
      const key = await deps.venice().createKey(body, { recover: () => this.deleteDescribed(description) });
      if (this.stopped) return void (await this.discard(key, 'the broker is stopping'));
      this.keys.push({ id: key.id, apiKey: key.apiKey, expiresAt: Date.parse(key.expiresAt) });
      this.resized();
    } finally {
      deps.listing.changed();
    }
  }

  /** A refill whose answer was lost: the key it may have made, found by its description, deleted. */
  private async deleteDescribed(description: string): Promise<void> {
    const client = this.deps.venice().forCleanup();
    for (const key of await client.listKeys()) if (key.description === description) await client.deleteKey(key.id);
  }

  private resized(): void {
    this.deps.sized(this.keys.length);
  }
}
