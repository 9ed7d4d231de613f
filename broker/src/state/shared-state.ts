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
  /** The mint whose intent's deadline is set afresh when the turn is taken (the create is sent next). */
  intent?: { mintId: string; withinMs: number } | undefined;
}

/**
 * Turns to create keys at Venice's window (the whole account's `creates-per-minute`, whichever replica
 * asks), handed out round-robin by repository. Places are given by `mints.admit`.
 */
export interface CreateQueue {
  /** Waits for the place's turn (then refreshes its intent's deadline); LeftQueue when `signal` aborts first. */
  take: (ticket: Ticket, signal?: AbortSignal) => Promise<void>;
  /** Callers of this replica waiting for a turn. */
  depth: () => number;
  /** Turns taken in the current window (all replicas). */
  windowCreates: () => Promise<number>;
  /** Milliseconds until the oldest turn of the current window ages out (0: none is in it). */
  windowFreesInMs: () => Promise<number>;
  /**
   * A place for a mint admitted without one (`queued: false`: a warm-pool key was to serve it, and
   * failed), judged as admission judges one; or how long past the queue timeout its turn would come.
   */
  join: (repositoryId: string, intent: Ticket['intent']) => Promise<Ticket | { retryAfterMs: number }>;
  /**
   * A turn for the warm pool: taken only when no caller waits anywhere, Venice holds nothing off and the
   * window has a turn free now. A caller never waits behind it.
   */
  takeIdle: () => Promise<boolean>;
}

/** What a mint asks of the store before it may wait for a turn (one round trip with Redis). */
export interface MintAdmission {
  mintId: string;
  repositoryId: string;
  /** The rule's live-keys ceiling: live leases plus mints in progress must stay under it. */
  liveKeys: number;
  /** The mint's longest life: its in-progress mark lapses after this (a crashed replica's). */
  inFlightMs: number;
  /** The signed intent, written now; its deadline is set again when the turn is taken. */
  intent: string;
  intentWithinMs: number;
  /** The caller's Idempotency-Key, the body's hash, and how long a finished mint is remembered. */
  idempotency: { key: string; bodyHash: string; ttlMs: number } | undefined;
  /** Whether the mint takes a place in the queue now (absent: yes); false when a warm-pool key serves it. */
  queued?: boolean;
}

export type Admission =
  /** Admitted. With `queued: false` the ticket holds no place (never `take` it: `queue.join` gives one). */
  | { outcome: 'admitted'; ticket: Ticket }
  /** Venice asked the broker to wait (the shared hold). */
  | { outcome: 'held'; retryAfterMs: number }
  /** The repository holds `live` live leases and `inFlight` mints in progress, at the ceiling. */
  | { outcome: 'live-keys'; live: number; inFlight: number }
  /** The turn would come past the queue timeout. */
  | { outcome: 'queue-full'; retryAfterMs: number }
  /** A finished mint with this Idempotency-Key and body: its sealed answer. */
  | { outcome: 'replay'; sealedAnswer: string }
  /** A mint with this Idempotency-Key is still in progress. */
  | { outcome: 'in-progress' }
  /** This Idempotency-Key came with another body. */
  | { outcome: 'mismatch' };

/** A finished mint: its lease (signed), and what a retry with its Idempotency-Key gets. */
export interface HandOut {
  mintId: string;
  repositoryId: string;
  keyId: string;
  /** When the key expires (epoch ms): the lease lasts until then. */
  expiresAt: number;
  signedLease: string;
  idempotency: { key: string; bodyHash: string; sealedAnswer: string; ttlMs: number } | undefined;
}

/** The mints in progress: admission, hand-out, and giving up. */
export interface Mints {
  admit: (admission: MintAdmission) => Promise<Admission>;
  /**
   * Records the lease and ends the mint (its intent, its in-progress mark), in one step. False when the
   * reconciler took the intent: the key must then not be handed out. (An intent lost with the store, a
   * flush, does not stop the hand-out.)
   */
  handOut: (handOut: HandOut) => Promise<boolean>;
  /** A mint that hands nothing out: its mark goes, its Idempotency-Key is free again, its intent too when no key can exist. */
  abandon: (mint: { mintId: string; repositoryId: string; idempotencyKey: string | undefined; dropIntent: boolean }) => Promise<void>;
}

/** The mint journal: one signed intent per mint in progress, past its deadline when the mint never finished. */
export interface MintJournal {
  /** Intents past their deadline, on the store's clock: their ids and signed texts (unverified). */
  overdue: () => Promise<{ id: string; text: string }[]>;
  /** Takes the intent out if it is still there (true): whoever takes it decides the key's fate. */
  claim: (id: string) => Promise<boolean>;
}

/** The leases, as signed texts (lease-book.ts verifies them). */
export interface LeaseStore {
  get: (keyId: string) => Promise<string | undefined>;
  /** Leases not yet expired: every one, or one repository's (by its id). */
  list: (repositoryId?: string) => Promise<string[]>;
  /** Leases whose keys have expired: each given once (then forgotten), for the expiry's audit line. */
  expired: () => Promise<string[]>;
  /** Rewrites a lease (a changed state), keeping its life. */
  update: (keyId: string, signedLease: string) => Promise<void>;
  /** Ends a lease (its key was deleted), and forgets its Idempotency-Key's answer. */
  end: (lease: { keyId: string; repositoryId: string; idempotencyKey: string | undefined }) => Promise<void>;
}

/**
 * The longest hold the broker honours: two creation windows (2 minutes; Venice never asks for longer).
 * A hold found longer in the store is cut to this where it is read, so a value written there by hand,
 * or a bad Retry-After, cannot stop every mint for longer.
 */
export function maxHoldMs(windowMs: number): number {
  return 2 * windowMs;
}

/**
 * How long each mint's admission keeps the warm pool from refilling (a thirtieth of the window: 2 s): a
 * burst served from the pools is still arriving, and a refill now would take a turn its later callers need.
 */
export function poolQuietMs(windowMs: number): number {
  return windowMs / 30;
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

/** Whether the store takes writes now: `unreachable` (no answer) or `full` (Redis at maxmemory refusing writes). */
export type StoreHealth = 'ok' | StoreProblem;
export type StoreProblem = 'unreachable' | 'full';

export interface SharedState {
  kind: 'memory' | 'redis';
  /** This process's id among the replicas (a random UUID per start). */
  replica: string;
  /**
   * This deployment's id, shared by its replicas (8 hex: kept in Redis; in memory, new each start): the
   * pool keys it reaps are its own, never those of another broker on the same Venice account.
   */
  deployment: string;
  /** Whether the replica with this id is running (its heartbeat is fresh; in memory, only this one). */
  alive: (replica: string) => Promise<boolean>;
  queue: CreateQueue;
  mints: Mints;
  brake: VeniceBrake;
  journal: MintJournal;
  leases: LeaseStore;
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
