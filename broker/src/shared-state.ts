/**
 * The state every replica of the broker must agree on, behind one interface with two homes:
 * memory-state.ts (one process: today's behaviour, the embedded default) and redis-state.ts (any number
 * of replicas sharing one Redis 7 or Valkey). The broker's logic (key-operations.ts, the reconciler)
 * is written against this interface only, so both homes run the same decisions.
 *
 * A store that cannot be reached throws StoreUnavailable; the broker answers 503 with Retry-After and
 * /readyz fails. It never falls back to per-process limits, which would let N replicas create N times
 * Venice's limit.
 */

import type { RateLimiterAbstract } from 'rate-limiter-flexible';

/** A held place in the creation queue. */
export interface Ticket {
  /** Gives the place back (refused, or gone before its turn); harmless once the turn was taken. */
  leave: () => void;
}

/**
 * Turns to create keys at Venice's window (the whole account's `creates-per-minute`, whichever replica
 * asks), handed out round-robin by repository.
 */
export interface CreateQueue {
  /** A place for a caller of `repository`, or QueueFull (fair-queue.ts) when its turn would come past the timeout. */
  admit: (repository: string) => Ticket | Promise<Ticket>;
  /** Waits for the place's turn; LeftQueue when `signal` aborts first. */
  take: (ticket: Ticket, signal?: AbortSignal) => Promise<void>;
  /** Callers of this replica waiting for a turn. */
  depth: () => number;
  /** Turns taken in the current window (all replicas). */
  windowCreates: () => Promise<number>;
  /** Milliseconds until the oldest turn of the current window ages out (0: none is in it). */
  windowFreesInMs: () => Promise<number>;
}

/** Mints in progress per repository (queued or creating), so concurrent mints cannot all slip under live-keys. */
export interface MintsInFlight {
  /**
   * Counts mint `mintId` for `repository` until `release` or `untilMs` (a crashed replica's count
   * lapses by itself), unless `limit` are already in progress: then nothing is counted and the number
   * in progress is returned. Otherwise returns undefined.
   */
  claim: (repository: string, mintId: string, limit: number, untilMs: number) => Promise<number | undefined>;
  release: (repository: string, mintId: string) => Promise<void>;
  /** Mints in progress for `repository`. */
  count: (repository: string) => Promise<number>;
}

/**
 * The longest hold the broker honours: two creation windows (2 minutes; Venice never asks for longer).
 * A hold found longer in the store is cut to this where it is read, so a value written there by hand,
 * or a bad Retry-After, cannot stop every mint for longer.
 */
export function maxHoldMs(windowMs: number): number {
  return 2 * windowMs;
}

/** "Venice is throttling us": one replica's 429 stops every replica until the wait is over. */
export interface VeniceBrake {
  /** Holds for `ms` (at most maxHoldMs), or longer if a longer hold is in place: it only lengthens. */
  holdFor: (ms: number) => Promise<void>;
  /** Holds for `ms` unless a hold is in place (a 429 without Retry-After never re-arms one). */
  holdUnlessHeld: (ms: number) => Promise<void>;
  /** Milliseconds until the broker may call Venice again (at most maxHoldMs, and cut to it); 0 when it may now. */
  heldForMs: () => Promise<number>;
}

/** A create the broker is about to send, written down before it is sent. */
export interface MintIntent {
  id: string;
  /** The key's tag as Venice's listing shows it in the description (formatTag). */
  tag: string;
  repository: string;
  runId: string;
  /**
   * After this (epoch ms, on the store's clock: Redis's own with Redis) a key with this tag that was
   * never handed out is an orphan. Set by the store from `intend`'s `withinMs`.
   */
  deadline: number;
}

/**
 * The mint journal: an intent before each create, removed once the caller has its answer. An intent
 * still there past its deadline means the key (if Venice made one) reached nobody.
 */
export interface MintJournal {
  /** Writes the intent with its deadline `withinMs` from now on the store's clock (one clock for every replica). */
  intend: (intent: Omit<MintIntent, 'deadline'>, withinMs: number) => Promise<void>;
  handedOut: (id: string) => Promise<void>;
  /** Intents past their deadline now, on the store's clock. */
  overdue: () => Promise<MintIntent[]>;
}

/** Whether the store takes writes now: `unreachable` (no answer) or `full` (Redis at maxmemory refusing writes). */
export type StoreHealth = 'ok' | StoreProblem;
export type StoreProblem = 'unreachable' | 'full';

export interface SharedState {
  kind: 'memory' | 'redis';
  queue: CreateQueue;
  inFlight: MintsInFlight;
  brake: VeniceBrake;
  journal: MintJournal;
  /** A per-key rate limiter (rate-limiter-flexible) in this store: `points` per `durationS`, keys under `prefix`. */
  limiter: (points: number, durationS: number, prefix: string) => RateLimiterAbstract;
  /**
   * Whether `key` is seen for the first time in `ttlMs` (a webhook delivery's id): true once, then false
   * on every replica until the time is over. In memory, at most 50,000 keys are held (the oldest go).
   */
  firstTime: (key: string, ttlMs: number) => Promise<boolean>;
  /** One replica at a time: true when this one holds `name` for `ms` (reconciliation). */
  lead: (name: string, ms: number) => Promise<boolean>;
  /** A failed call to this store (a rate limiter's, say) as the StoreUnavailable it means. */
  failure: (error: unknown) => StoreUnavailable;
  /** Whether the store takes a write now (for /readyz: a write probe, not a PING). */
  ready: () => Promise<StoreHealth>;
  close: () => Promise<void>;
}

/** A store call that failed: out of reach, or refusing writes because it is full. `detail` names the address, never a password. */
export class StoreUnavailable extends Error {
  constructor(
    readonly problem: StoreProblem,
    detail: string,
  ) {
    super(detail);
    this.name = 'StoreUnavailable';
  }
}
