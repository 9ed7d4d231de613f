/**
 * The shared state in Redis 7 (or Valkey), through ioredis: every replica of the broker takes its turns
 * to create from one window, waits in one fair queue, counts one set of mints in flight, honours one
 * "Venice is throttling us" hold and writes one mint journal.
 *
 * Each decision that reads and writes is one Lua script (atomic in Redis), and each script reads the time
 * from Redis itself (TIME), so replicas on hosts whose clocks differ still agree on the window. The queue
 * is the same round-robin as fair-queue.ts: only the head of the order (rank by rank, least recently
 * served repository first) may take a turn, and only when the window has one. Waiters poll (at most every
 * sixtieth of the window, more often when their turn is due) and each poll is a heartbeat: a waiter whose
 * replica died stops polling and is dropped after a few polls' time, so it never holds up the queue.
 *
 * Keys all carry the hash tag {vkb}, so the scripts' keys are in one slot. What they hold and for how long
 * is listed in docs/broker.md ("What the broker keeps in Redis"). A Redis that does not answer makes every
 * call throw StoreUnavailable: the broker answers 503, never falls back to per-process limits.
 *
 * Written here rather than with a queue library (BullMQ and the like): those run jobs in workers, and the
 * broker needs its HTTP callers themselves to wait in a fair order for turns on Venice's window.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { safeText } from '../../../core/safe-text.js';
import { arrivalMarginMs, LeftQueue } from './fair-queue.js';
import {
  ABANDON,
  CLAIM,
  END_LEASE,
  EXPIRED_LEASES,
  HAND_OUT,
  HELD,
  HOLD,
  JOIN,
  JOURNAL,
  LEAVE,
  LIST_LEASES,
  MINT_ADMIT,
  TAKE,
  TAKE_IDLE,
  WINDOW_CREATES,
  WINDOW_FREES,
} from './redis-scripts.js';
import {
  type Admission,
  type CreateQueue,
  type LeaseStore,
  type Mints,
  maxHoldMs,
  poolQuietMs,
  type SharedState,
  type StoreProblem,
  StoreUnavailable,
  type Ticket,
} from './shared-state.js';

const P = '{vkb}:';
/** The queue's keys, KEYS[1..9] of every queue script (see redis-scripts.ts). */
const QUEUE_KEYS = ['turns', 'waiters', 'waiter-repo', 'waiter-seen', 'waiter-taking', 'held', 'seq', 'served', 'served-count'].map(
  (name) => P + name,
);
/** Every other key, by name. */
const KEY = {
  held: `${P}held`,
  journal: `${P}journal`,
  leases: `${P}leases`,
  leasePrefix: `${P}lease:`,
  lease: (keyId: string) => `${P}lease:${keyId}`,
  repositoryLeases: (repositoryId: string) => `${P}leases:${repositoryId}`,
  inFlight: (repositoryId: string) => `${P}in-flight:${repositoryId}`,
  claimed: (mintId: string) => `${P}claimed:${mintId}`,
  idempotency: (repositoryId: string, key: string | undefined) => (key ? `${P}idem:${repositoryId}:${key}` : `${P}idem:none`),
  readyProbe: `${P}ready-probe`,
  replicaPrefix: `${P}replica:`,
  deployment: `${P}deployment`,
  busy: `${P}busy`,
};
/** A replica says it is alive this often, for this long: a killed one's mints are known dead within seconds. */
const HEARTBEAT_MS = 2_000;
const HEARTBEAT_LIFE_MS = 6_000;
/** How long queue bookkeeping (who was served last, the arrival counter) outlives its last use. */
const QUEUE_KEY_TTL_MS = 86_400_000;
/** How long a lease is kept past its key's expiry: for the reconciler's "expired" audit line. */
const LEASE_GRACE_MS = 3_600_000;
/** How long the reconciler's mark on a taken intent lasts (past any mint's life). */
const CLAIM_MARK_MS = 3_600_000;

type Run = (...args: (string | number)[]) => Promise<unknown>;
type Scripted = Redis &
  Record<
    | 'vkbMintAdmit'
    | 'vkbTake'
    | 'vkbTakeIdle'
    | 'vkbJoin'
    | 'vkbLeave'
    | 'vkbWindowCreates'
    | 'vkbWindowFrees'
    | 'vkbHandOut'
    | 'vkbAbandon'
    | 'vkbListLeases'
    | 'vkbExpiredLeases'
    | 'vkbEndLease'
    | 'vkbHeld'
    | 'vkbHold'
    | 'vkbJournal'
    | 'vkbClaim',
    Run
  >;

const SCRIPTS: Record<string, { numberOfKeys: number; lua: string }> = {
  vkbMintAdmit: { numberOfKeys: QUEUE_KEYS.length + 5, lua: MINT_ADMIT },
  vkbTake: { numberOfKeys: QUEUE_KEYS.length + 1, lua: TAKE },
  vkbTakeIdle: { numberOfKeys: QUEUE_KEYS.length + 1, lua: TAKE_IDLE },
  vkbJoin: { numberOfKeys: QUEUE_KEYS.length, lua: JOIN },
  vkbLeave: { numberOfKeys: QUEUE_KEYS.length, lua: LEAVE },
  vkbWindowCreates: { numberOfKeys: QUEUE_KEYS.length, lua: WINDOW_CREATES },
  vkbWindowFrees: { numberOfKeys: QUEUE_KEYS.length, lua: WINDOW_FREES },
  vkbHandOut: { numberOfKeys: 7, lua: HAND_OUT },
  vkbClaim: { numberOfKeys: 2, lua: CLAIM },
  vkbAbandon: { numberOfKeys: 3, lua: ABANDON },
  vkbListLeases: { numberOfKeys: 1, lua: LIST_LEASES },
  vkbExpiredLeases: { numberOfKeys: 1, lua: EXPIRED_LEASES },
  vkbEndLease: { numberOfKeys: 4, lua: END_LEASE },
  vkbHeld: { numberOfKeys: 1, lua: HELD },
  vkbHold: { numberOfKeys: 1, lua: HOLD },
  vkbJournal: { numberOfKeys: 1, lua: JOURNAL },
};

export interface RedisStateOptions {
  url: string;
  perWindow: number;
  windowMs: number;
  timeoutMs: number;
  /** How long one command may take (store.command-timeout). */
  commandTimeoutMs?: number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Each failed store call (for broker_store_errors_total). */
  onError: (error: unknown) => void;
  /** Where "out of reach" and "reachable again" are said, naming the address (never the password). */
  log?: { info: (message: string) => void; warning: (message: string) => void };
  /** Each command sent (a test counts a mint's round trips). */
  onCommand?: () => void;
}

/** host:port of a Redis URL: what the broker's lines name (never the user or password). */
export function redisAddress(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'the configured address';
  }
}

/** What went wrong with a call, in the operator's words rather than the client library's. */
export function describeRedisError(error: unknown): { problem: StoreProblem; text: string } {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  if (/\bOOM\b/.test(message)) return { problem: 'full', text: 'is full: it refuses writes (maxmemory reached with noeviction)' };
  if (/timed out/i.test(message)) return { problem: 'unreachable', text: 'did not answer within store.command-timeout' };
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { problem: 'unreachable', text: `is out of reach (${code})` };
  if (/offline queue|writeable|Connection is closed|connection.*(closed|lost)/i.test(message)) {
    return { problem: 'unreachable', text: 'is not connected (the broker reconnects by itself)' };
  }
  return { problem: 'unreachable', text: `refused the call (${safeText(message.slice(0, 80))})` };
}

/**
 * Connects (waiting up to 3 s for Redis to answer, so the first requests do not fail for nothing) and
 * returns the state. A Redis that is down at start is not fatal: the broker starts, /readyz says it is
 * not ready, mints are answered 503, and the client keeps reconnecting.
 */
/** The client: fails at once while disconnected, reconnects by itself, its scripts defined. */
async function connect(options: RedisStateOptions, address: string): Promise<Scripted> {
  const redis = new Redis(options.url, {
    // Fail at once while disconnected (a 503 now beats a caller held behind a queue of commands), and
    // never wait long for an answer; reconnect in the background, so service resumes by itself.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(100 * times, 1_000),
    lazyConnect: false,
  }) as Scripted;
  watchConnection(redis, address, options.log);
  await new Promise<void>((done) => {
    const timer = setTimeout(done, 3_000);
    redis.once('ready', () => {
      clearTimeout(timer);
      done();
    });
  });
  for (const [name, definition] of Object.entries(SCRIPTS)) redis.defineCommand(name, definition);
  return redis;
}

export async function redisState(options: RedisStateOptions): Promise<SharedState> {
  const address = redisAddress(options.url);
  const redis = await connect(options, address);
  const unavailable = (error: unknown): StoreUnavailable => {
    const { problem, text } = describeRedisError(error);
    return new StoreUnavailable(problem, `the broker's store (Redis at ${address}) ${text}`);
  };
  const call = async <T>(run: () => Promise<T>): Promise<T> => {
    options.onCommand?.();
    try {
      return await run();
    } catch (error) {
      options.onError(error);
      throw unavailable(error);
    }
  };
  const maxHold = maxHoldMs(options.windowMs);
  const holdMs = (ms: number): number => Math.max(1, Math.min(maxHold, Math.ceil(ms)));
  const replica = randomUUID();
  const heartbeat = (): Promise<unknown> =>
    redis.set(`${KEY.replicaPrefix}${replica}`, '1', 'PX', HEARTBEAT_LIFE_MS).catch(() => undefined);
  await heartbeat();
  const beating = setInterval(heartbeat, HEARTBEAT_MS);
  beating.unref();
  const queue = new RedisQueue(redis, options, call, replica);
  // The first replica names the deployment; the others read it (no expiry: it outlives every replica).
  // Redis out of reach at start: a name of this replica's own (it then reaps only pool keys it named).
  const named = randomBytes(4).toString('hex');
  const deployment = await redis
    .set(KEY.deployment, named, 'NX')
    .then(() => redis.get(KEY.deployment))
    .then((stored) => (stored && /^[0-9a-f]{8}$/.test(stored) ? stored : named))
    .catch(() => named);

  return {
    kind: 'redis',
    replica,
    deployment,
    // A replica is alive while its heartbeat key lasts (6 s after its last beat).
    alive: async (other) => other === replica || (await call(() => redis.exists(`${KEY.replicaPrefix}${other}`))) === 1,
    queue,
    mints: redisMints(redis, queue, call),
    brake: {
      holdFor: async (ms) => void (await call(() => redis.vkbHold(KEY.held, holdMs(ms)))),
      holdUnlessHeld: async (ms) => void (await call(() => redis.set(KEY.held, '1', 'PX', holdMs(ms), 'NX'))),
      // Cut to the longest hold Venice asks for: anyone who can write to Redis could set a day.
      heldForMs: async () => Number(await call(() => redis.vkbHeld(KEY.held, maxHold))),
    },
    journal: redisJournal(redis, call),
    leases: redisLeases(redis, call),
    limiter: (points, duration, keyPrefix) =>
      new RateLimiterRedis({ storeClient: redis, points, duration, keyPrefix: `${P}limit:${keyPrefix}` }),
    failure: unavailable,
    firstTime: async (key, ttlMs) => (await call(() => redis.set(`${P}seen:${key}`, '1', 'PX', ttlMs, 'NX'))) === 'OK',
    lead: async (name, ms) => (await call(() => redis.set(`${P}lead:${name}`, randomUUID(), 'PX', ms, 'NX'))) === 'OK',
    // A write, not a PING: a Redis at maxmemory with noeviction answers PING and refuses every write.
    ready: async () => {
      try {
        await redis.set(KEY.readyProbe, '1', 'PX', 10_000);
        return 'ok';
      } catch (error) {
        return describeRedisError(error).problem;
      }
    },
    close: async () => {
      clearInterval(beating);
      await redis.del(`${KEY.replicaPrefix}${replica}`).catch(() => undefined);
      redis.disconnect();
    },
  };
}

type Call = <T>(run: () => Promise<T>) => Promise<T>;

function redisMints(redis: Scripted, queue: RedisQueue, call: Call): Mints {
  return {
    admit: async (admission): Promise<Admission> => {
      const { repositoryId, idempotency } = admission;
      const id = randomUUID();
      const reply = (await call(() =>
        redis.vkbMintAdmit(
          ...QUEUE_KEYS,
          KEY.inFlight(repositoryId),
          KEY.repositoryLeases(repositoryId),
          KEY.journal,
          KEY.idempotency(repositoryId, idempotency?.key),
          KEY.busy,
          ...queue.admitArguments(id, repositoryId),
          admission.mintId,
          admission.liveKeys,
          Math.round(admission.inFlightMs),
          admission.intent,
          idempotency?.bodyHash ?? '',
          idempotency?.ttlMs ?? 0,
          ...queue.replicaArguments(),
          admission.queued === false ? '0' : '1',
          Math.ceil(poolQuietMs(queue.windowMs)),
        ),
      )) as [string, number | string, number?];
      const [outcome, first, second] = reply;
      if (outcome === 'admitted') {
        const intent = { mintId: admission.mintId, withinMs: admission.intentWithinMs };
        if (admission.queued === false) return { outcome, ticket: { leave: () => undefined, intent } };
        return { outcome, ticket: queue.ticket(id, repositoryId, Number(first), intent) };
      }
      if (outcome === 'held' || outcome === 'queue-full') return { outcome, retryAfterMs: Number(first) };
      if (outcome === 'live-keys') return { outcome, live: Number(first), inFlight: Number(second) };
      if (outcome === 'replay') return { outcome, sealedAnswer: String(first) };
      return { outcome: outcome === 'mismatch' ? 'mismatch' : 'in-progress' };
    },
    handOut: async (handOut) => {
      const { idempotency } = handOut;
      const record = idempotency ? JSON.stringify({ s: 'd', h: idempotency.bodyHash, r: idempotency.sealedAnswer }) : '';
      const recorded = await call(() =>
        redis.vkbHandOut(
          KEY.journal,
          KEY.lease(handOut.keyId),
          KEY.leases,
          KEY.repositoryLeases(handOut.repositoryId),
          KEY.inFlight(handOut.repositoryId),
          KEY.idempotency(handOut.repositoryId, idempotency?.key),
          KEY.claimed(handOut.mintId),
          handOut.mintId,
          handOut.keyId,
          handOut.signedLease,
          handOut.expiresAt,
          record,
          idempotency?.ttlMs ?? 0,
          LEASE_GRACE_MS,
        ),
      );
      return Number(recorded) === 1;
    },
    abandon: async ({ mintId, repositoryId, idempotencyKey, dropIntent }) => {
      await call(() =>
        redis.vkbAbandon(
          KEY.inFlight(repositoryId),
          KEY.journal,
          KEY.idempotency(repositoryId, idempotencyKey),
          mintId,
          dropIntent ? '1' : '0',
          idempotencyKey ? '1' : '0',
        ),
      );
    },
  };
}

function redisJournal(redis: Scripted, call: Call): SharedState['journal'] {
  return {
    overdue: async () => {
      const [now, ...flat] = (await call(() => redis.vkbJournal(KEY.journal))) as string[];
      const intents: { id: string; text: string }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const [id = '', value = ''] = [flat[i], flat[i + 1]];
        const bar = value.indexOf('|');
        if (bar > 0 && Number(value.slice(0, bar)) < Number(now)) intents.push({ id, text: value.slice(bar + 1) });
      }
      return intents;
    },
    claim: async (id) => Number(await call(() => redis.vkbClaim(KEY.journal, KEY.claimed(id), id, CLAIM_MARK_MS))) === 1,
  };
}

function redisLeases(redis: Scripted, call: Call): LeaseStore {
  return {
    get: async (keyId) => (await call(() => redis.get(KEY.lease(keyId)))) ?? undefined,
    list: async (repositoryId) =>
      (await call(() =>
        redis.vkbListLeases(repositoryId === undefined ? KEY.leases : KEY.repositoryLeases(repositoryId), KEY.leasePrefix),
      )) as string[],
    expired: async () => (await call(() => redis.vkbExpiredLeases(KEY.leases, KEY.leasePrefix))) as string[],
    update: async (keyId, signedLease) => void (await call(() => redis.set(KEY.lease(keyId), signedLease, 'KEEPTTL', 'XX'))),
    end: async ({ keyId, repositoryId, idempotencyKey }) =>
      void (await call(() =>
        redis.vkbEndLease(
          KEY.lease(keyId),
          KEY.leases,
          KEY.repositoryLeases(repositoryId),
          KEY.idempotency(repositoryId, idempotencyKey),
          keyId,
        ),
      )),
  };
}

/** One line when Redis goes out of reach (naming its address and why), one when it is back. */
function watchConnection(redis: Redis, address: string, log: RedisStateOptions['log']): void {
  let lost = false;
  let connected = false;
  redis.on('error', (error: unknown) => {
    if (lost) return;
    lost = true;
    log?.warning(`Redis at ${address} ${describeRedisError(error).text}; mints are answered 503 until it is back.`);
  });
  redis.on('ready', () => {
    if (lost || !connected) log?.info(`Redis at ${address} is ${connected ? 'reachable again' : 'connected'}.`);
    lost = false;
    connected = true;
  });
}

interface RedisTicket extends Ticket {
  id: string;
  repository: string;
  seq: number;
  taken: boolean;
}

class RedisQueue implements CreateQueue {
  private readonly waiting = new Set<RedisTicket>();
  /** How often a waiter looks at its place (and says it is still there). */
  private readonly pollMs: number;
  /** A waiter not heard from for this long is dropped (its replica died). */
  private readonly staleMs: number;
  private readonly marginMs: number;

  constructor(
    private readonly redis: Scripted,
    private readonly options: RedisStateOptions,
    private readonly call: Call,
    private readonly replica: string,
  ) {
    this.pollMs = Math.max(50, Math.min(1_000, options.windowMs / 60));
    this.staleMs = Math.max(2_000, 5 * this.pollMs);
    this.marginMs = arrivalMarginMs(options.windowMs);
  }

  get windowMs(): number {
    return this.options.windowMs;
  }

  /** MINT_ADMIT's last arguments (ARGV 16-17): this replica, whose heartbeat says its mints are alive. */
  replicaArguments(): string[] {
    return [this.replica, KEY.replicaPrefix];
  }

  /** MINT_ADMIT's queue arguments (ARGV 1-9). */
  admitArguments(id: string, repository: string): (string | number)[] {
    const { perWindow, windowMs, timeoutMs } = this.options;
    return [id, repository, perWindow, windowMs, this.marginMs, timeoutMs, this.staleMs, QUEUE_KEY_TTL_MS, maxHoldMs(windowMs)];
  }

  /** The place MINT_ADMIT gave. */
  ticket(id: string, repository: string, seq: number, intent: Ticket['intent']): RedisTicket {
    const ticket: RedisTicket = {
      id,
      repository,
      seq,
      taken: false,
      intent,
      leave: () => {
        if (ticket.taken) return;
        // Best effort: a place that cannot be given back now is dropped by the others once it goes quiet.
        this.redis.vkbLeave(...QUEUE_KEYS, id).catch(() => undefined);
      },
    };
    return ticket;
  }

  async join(repository: string, intent: Ticket['intent']): Promise<Ticket | { retryAfterMs: number }> {
    const id = randomUUID();
    const { perWindow, windowMs, timeoutMs } = this.options;
    const [outcome, value] = (await this.call(() =>
      this.redis.vkbJoin(...QUEUE_KEYS, id, repository, perWindow, windowMs, this.marginMs, timeoutMs, this.staleMs, QUEUE_KEY_TTL_MS),
    )) as [string, number];
    return outcome === 'admitted' ? this.ticket(id, repository, Number(value), intent) : { retryAfterMs: Number(value) };
  }

  async takeIdle(): Promise<boolean> {
    const { perWindow, windowMs } = this.options;
    const taken = await this.call(() =>
      this.redis.vkbTakeIdle(
        ...QUEUE_KEYS,
        KEY.busy,
        perWindow,
        windowMs,
        this.marginMs,
        this.staleMs,
        randomUUID(),
        QUEUE_KEY_TTL_MS,
        maxHoldMs(windowMs),
      ),
    );
    return Number(taken) === 1;
  }

  async take(ticket: Ticket, signal?: AbortSignal): Promise<void> {
    const waiter = ticket as RedisTicket;
    const { perWindow, windowMs } = this.options;
    this.waiting.add(waiter);
    try {
      for (;;) {
        if (signal?.aborted) throw new LeftQueue();
        const [taken, waitMs] = (await this.call(() =>
          this.redis.vkbTake(
            ...QUEUE_KEYS,
            KEY.journal,
            waiter.id,
            waiter.repository,
            waiter.seq,
            perWindow,
            windowMs,
            this.marginMs,
            this.staleMs,
            randomUUID(),
            QUEUE_KEY_TTL_MS,
            maxHoldMs(windowMs),
            waiter.intent?.mintId ?? '',
            Math.round(waiter.intent?.withinMs ?? 0),
          ),
        )) as [number, number];
        if (taken === 1) {
          waiter.taken = true;
          return;
        }
        // Due (the window has room) but not the head: look again soon, the head is taking its turn now.
        const pause = Math.min(this.pollMs, Math.max(waitMs, this.pollMs / 20));
        await this.options.sleep(pause, signal).catch(() => undefined);
      }
    } finally {
      this.waiting.delete(waiter);
      ticket.leave();
    }
  }

  depth(): number {
    return this.waiting.size;
  }

  async windowCreates(): Promise<number> {
    return Number(await this.call(() => this.redis.vkbWindowCreates(...QUEUE_KEYS, this.options.windowMs, this.marginMs)));
  }

  async windowFreesInMs(): Promise<number> {
    return Number(await this.call(() => this.redis.vkbWindowFrees(...QUEUE_KEYS, this.options.windowMs, this.marginMs)));
  }
}
