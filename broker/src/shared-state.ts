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

/** "Venice is throttling us": one replica's 429 stops every replica until the wait is over. */
export interface VeniceBrake {
  holdFor: (ms: number) => Promise<void>;
  /** Milliseconds until the broker may call Venice again; 0 when it may now. */
  heldForMs: () => Promise<number>;
}

/** A create the broker is about to send, written down before it is sent. */
export interface MintIntent {
  id: string;
  /** The key's tag as Venice's listing shows it in the description (formatTag). */
  tag: string;
  repository: string;
  runId: string;
  /** After this (epoch ms) a key with this tag that was never handed out is an orphan. */
  deadline: number;
}

/**
 * The mint journal: an intent before each create, removed once the caller has its answer. An intent
 * still there past its deadline means the key (if Venice made one) reached nobody.
 */
export interface MintJournal {
  intend: (intent: MintIntent) => Promise<void>;
  handedOut: (id: string) => Promise<void>;
  /** Intents past their deadline at `now`. */
  overdue: (now: number) => Promise<MintIntent[]>;
}

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
  /** Whether the store answers now (for /readyz). */
  ready: () => Promise<boolean>;
  close: () => Promise<void>;
}

export class StoreUnavailable extends Error {
  constructor(cause: unknown) {
    super(`the broker's store (Redis) did not answer: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StoreUnavailable';
  }
}
