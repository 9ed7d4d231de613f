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
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { safeText } from '../../core/safe-text.js';
import { arrivalMarginMs, LeftQueue, QueueFull } from './fair-queue.js';
import { isIntent } from './memory-state.js';
import {
  type CreateQueue,
  type MintIntent,
  maxHoldMs,
  type SharedState,
  type StoreProblem,
  StoreUnavailable,
  type Ticket,
} from './shared-state.js';

const P = '{vkb}:';
const QUEUE_KEYS = ['turns', 'waiters', 'waiter-repo', 'waiter-seen', 'waiter-taking', 'held', 'seq', 'served', 'served-count'].map(
  (name) => P + name,
);
/** How long queue bookkeeping (who was served last, the arrival counter) outlives its last use. */
const QUEUE_KEY_TTL_MS = 86_400_000;

/** Redis's own clock, in ms: every script that reads the time starts with this. */
const NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

const COMMON = `${NOW_MS}
local function drop(id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
end
local function prune(now, stale)
  local seen = redis.call('HGETALL', KEYS[4])
  for i = 1, #seen, 2 do
    if tonumber(seen[i + 1]) < now - stale then drop(seen[i]) end
  end
end
local function turn_time(now, n, per, window, margin)
  local recent = redis.call('ZRANGE', KEYS[1], -per, -1, 'WITHSCORES')
  local times = {}
  for i = 2, #recent, 2 do times[#times + 1] = tonumber(recent[i]) end
  local at = now
  for i = 0, n do
    if #times < per then at = now else at = math.max(now, times[#times - per + 1] + window + margin) end
    times[#times + 1] = at
  end
  return at
end
local function touch(ttl)
  for i = 1, #KEYS do
    if i ~= 6 then redis.call('PEXPIRE', KEYS[i], ttl) end -- not the hold: it ends when Venice said
  end
end
`;

/** ARGV: id, repository, perWindow, windowMs, marginMs, timeoutMs, staleMs, keyTtlMs → {1, seq} or {0, ms past the timeout}. */
const ADMIT = `${COMMON}
local id, repo = ARGV[1], ARGV[2]
local per, window, margin, timeout, stale = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()
prune(now, stale)
local counts = {}
for _, w in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local r = redis.call('HGET', KEYS[3], w)
  if r then counts[r] = (counts[r] or 0) + 1 end
end
local own = counts[repo] or 0
local ahead = own
for r, c in pairs(counts) do
  if r ~= repo then ahead = ahead + math.min(c, own + 1) end
end
local wait = turn_time(now, ahead, per, window, margin) - now
if wait > timeout then return {0, wait - timeout} end
local seq = redis.call('INCR', KEYS[7])
redis.call('ZADD', KEYS[2], seq, id)
redis.call('HSET', KEYS[3], id, repo)
redis.call('HSET', KEYS[4], id, now)
touch(tonumber(ARGV[8]))
return {1, seq}
`;

/**
 * ARGV: id, repository, seq, perWindow, windowMs, marginMs, staleMs, turnId, keyTtlMs, maxHoldMs →
 * {1, 0} (taken) or {0, ms until its turn}. A hold longer than maxHoldMs is cut to it (see maxHoldMs).
 */
const TAKE = `${COMMON}
local id, repo, seq = ARGV[1], ARGV[2], tonumber(ARGV[3])
local per, window, margin, stale = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()
prune(now, stale)
if not redis.call('ZSCORE', KEYS[2], id) then
  redis.call('ZADD', KEYS[2], seq, id)
  redis.call('HSET', KEYS[3], id, repo)
end
redis.call('HSET', KEYS[4], id, now)
redis.call('HSET', KEYS[5], id, 1)
local lists, repos, pos, served = {}, {}, {}, {}
for _, w in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('HEXISTS', KEYS[5], w) == 1 then
    local r = redis.call('HGET', KEYS[3], w)
    if not lists[r] then
      lists[r] = {}
      repos[#repos + 1] = r
      pos[r] = #repos
      served[r] = tonumber(redis.call('HGET', KEYS[8], r) or '-1')
    end
    table.insert(lists[r], w)
  end
end
table.sort(repos, function(a, b)
  if served[a] ~= served[b] then return served[a] < served[b] end
  return pos[a] < pos[b]
end)
local index, n, rank = -1, 0, 1
while index < 0 do
  local any = false
  for _, r in ipairs(repos) do
    local w = lists[r][rank]
    if w then
      any = true
      if w == id then index = n end
      n = n + 1
    end
  end
  if not any then break end
  rank = rank + 1
end
local at = turn_time(now, math.max(index, 0), per, window, margin)
local held = redis.call('PTTL', KEYS[6])
if held > tonumber(ARGV[10]) then
  held = tonumber(ARGV[10])
  redis.call('PEXPIRE', KEYS[6], held) -- a hold longer than any Venice asks for is cut where it is read
end
if held > 0 then at = math.max(at, now + held) end
if index == 0 and at <= now then
  redis.call('ZADD', KEYS[1], now, ARGV[8])
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(per + 1))
  drop(id)
  redis.call('HSET', KEYS[8], repo, redis.call('INCR', KEYS[9]))
  touch(tonumber(ARGV[9]))
  return {1, 0}
end
return {0, at - now}
`;

const LEAVE = `${COMMON}
drop(ARGV[1])
return 1
`;

/** ARGV: windowMs, marginMs → turns taken in the current window. */
const WINDOW_CREATES = `${COMMON}
return redis.call('ZCOUNT', KEYS[1], '(' .. (now_ms() - tonumber(ARGV[1]) - tonumber(ARGV[2])), '+inf')
`;

/** ARGV: windowMs, marginMs → ms until the oldest turn of the current window ages out (0: none). */
const WINDOW_FREES = `${COMMON}
local now = now_ms()
local span = tonumber(ARGV[1]) + tonumber(ARGV[2])
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - span), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #oldest == 0 then return 0 end
return tonumber(oldest[2]) + span - now
`;

/**
 * KEYS: the journal hash. ARGV: intent id, the intent as JSON (no deadline), withinMs. The deadline is
 * Redis's now + withinMs, so every replica judges it on one clock.
 */
const INTEND = `${NOW_MS}
local intent = cjson.decode(ARGV[2])
intent['deadline'] = now_ms() + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(intent))
return 1
`;

/** KEYS: the repository's in-flight set. ARGV: mintId, limit, ttlMs → -1 (counted) or the number in progress. */
const CLAIM = `${NOW_MS}
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[2]) then return count end
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return -1
`;

const IN_FLIGHT = `${NOW_MS}
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms(), '+inf')
`;

/** KEYS: the hold. ARGV: maxHoldMs → ms held (0: none); a longer hold is cut to maxHoldMs. */
const HELD = `
local held = redis.call('PTTL', KEYS[1])
if held > tonumber(ARGV[1]) then
  held = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], held)
end
return math.max(held, 0)
`;

/** KEYS: the hold. ARGV: ms (already cut to maxHoldMs). Lengthens the hold, never shortens it. */
const HOLD = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
`;

type Scripted = Redis & {
  vkbAdmit: (...args: (string | number)[]) => Promise<[number, number]>;
  vkbTake: (...args: (string | number)[]) => Promise<[number, number]>;
  vkbLeave: (...args: (string | number)[]) => Promise<number>;
  vkbWindowCreates: (...args: (string | number)[]) => Promise<number>;
  vkbWindowFrees: (...args: (string | number)[]) => Promise<number>;
  vkbIntend: (...args: (string | number)[]) => Promise<number>;
  vkbClaim: (...args: (string | number)[]) => Promise<number>;
  vkbInFlight: (...args: (string | number)[]) => Promise<number>;
  vkbHold: (...args: (string | number)[]) => Promise<number>;
  vkbHeld: (...args: (string | number)[]) => Promise<number>;
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
export async function redisState(options: RedisStateOptions): Promise<SharedState> {
  const address = redisAddress(options.url);
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
  const scripts = {
    vkbAdmit: { numberOfKeys: QUEUE_KEYS.length, lua: ADMIT },
    vkbTake: { numberOfKeys: QUEUE_KEYS.length, lua: TAKE },
    vkbLeave: { numberOfKeys: QUEUE_KEYS.length, lua: LEAVE },
    vkbWindowCreates: { numberOfKeys: QUEUE_KEYS.length, lua: WINDOW_CREATES },
    vkbWindowFrees: { numberOfKeys: QUEUE_KEYS.length, lua: WINDOW_FREES },
    vkbIntend: { numberOfKeys: 1, lua: INTEND },
    vkbClaim: { numberOfKeys: 1, lua: CLAIM },
    vkbInFlight: { numberOfKeys: 1, lua: IN_FLIGHT },
    vkbHold: { numberOfKeys: 1, lua: HOLD },
    vkbHeld: { numberOfKeys: 1, lua: HELD },
  };
  for (const [name, definition] of Object.entries(scripts)) redis.defineCommand(name, definition);

  const unavailable = (error: unknown): StoreUnavailable => {
    const { problem, text } = describeRedisError(error);
    return new StoreUnavailable(problem, `the broker's store (Redis at ${address}) ${text}`);
  };
  const call = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      options.onError(error);
      throw unavailable(error);
    }
  };
  const journalKey = `${P}journal`;
  const inFlightKey = (repository: string) => `${P}in-flight:${repository}`;
  const held = `${P}held`;
  const maxHold = maxHoldMs(options.windowMs);
  const holdMs = (ms: number): number => Math.max(1, Math.min(maxHold, Math.ceil(ms)));

  return {
    kind: 'redis',
    queue: new RedisQueue(redis, options, call),
    inFlight: {
      claim: async (repository, mintId, limit, untilMs) => {
        const ttl = Math.max(1_000, Math.round(untilMs - Date.now()));
        const result = await call(() => redis.vkbClaim(inFlightKey(repository), mintId, limit, ttl));
        return result < 0 ? undefined : result;
      },
      release: async (repository, mintId) => void (await call(() => redis.zrem(inFlightKey(repository), mintId))),
      count: (repository) => call(() => redis.vkbInFlight(inFlightKey(repository))),
    },
    brake: {
      holdFor: async (ms) => void (await call(() => redis.vkbHold(held, holdMs(ms)))),
      holdUnlessHeld: async (ms) => void (await call(() => redis.set(held, '1', 'PX', holdMs(ms), 'NX'))),
      // Cut to the longest hold Venice asks for: anyone who can write to Redis could set a day.
      heldForMs: () => call(() => redis.vkbHeld(held, maxHold)),
    },
    journal: {
      intend: async ({ id, tag, repository, runId }, withinMs) =>
        void (await call(() => redis.vkbIntend(journalKey, id, JSON.stringify({ id, tag, repository, runId }), Math.round(withinMs)))),
      handedOut: async (id) => void (await call(() => redis.hdel(journalKey, id))),
      overdue: async () => {
        const [[seconds, micros], all] = await call(() => Promise.all([redis.time(), redis.hgetall(journalKey)]));
        const now = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
        const intents: MintIntent[] = [];
        for (const text of Object.values(all)) {
          let intent: unknown;
          try {
            intent = JSON.parse(text);
          } catch {}
          if (isIntent(intent) && intent.deadline < now) intents.push(intent);
        }
        return intents;
      },
    },
    limiter: (points, duration, keyPrefix) =>
      new RateLimiterRedis({ storeClient: redis, points, duration, keyPrefix: `${P}limit:${keyPrefix}` }),
    failure: unavailable,
    firstTime: async (key, ttlMs) => (await call(() => redis.set(`${P}seen:${key}`, '1', 'PX', ttlMs, 'NX'))) === 'OK',
    lead: async (name, ms) => (await call(() => redis.set(`${P}lead:${name}`, randomUUID(), 'PX', ms, 'NX'))) === 'OK',
    // A write, not a PING: a Redis at maxmemory with noeviction answers PING and refuses every write.
    ready: async () => {
      try {
        await redis.set(`${P}ready-probe`, '1', 'PX', 10_000);
        return 'ok';
      } catch (error) {
        return describeRedisError(error).problem;
      }
    },
    close: async () => {
      redis.disconnect();
    },
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
    private readonly call: <T>(run: () => Promise<T>) => Promise<T>,
  ) {
    this.pollMs = Math.max(50, Math.min(1_000, options.windowMs / 60));
    this.staleMs = Math.max(2_000, 5 * this.pollMs);
    this.marginMs = arrivalMarginMs(options.windowMs);
  }

  async admit(repository: string): Promise<Ticket> {
    const { perWindow, windowMs, timeoutMs } = this.options;
    const id = randomUUID();
    const [admitted, value] = await this.call(() =>
      this.redis.vkbAdmit(...QUEUE_KEYS, id, repository, perWindow, windowMs, this.marginMs, timeoutMs, this.staleMs, QUEUE_KEY_TTL_MS),
    );
    if (admitted !== 1) throw new QueueFull(value);
    const ticket: RedisTicket = {
      id,
      repository,
      seq: value,
      taken: false,
      leave: () => {
        if (ticket.taken) return;
        // Best effort: a place that cannot be given back now is dropped by the others once it goes quiet.
        this.redis.vkbLeave(...QUEUE_KEYS, id).catch(() => undefined);
      },
    };
    return ticket;
  }

  async take(ticket: Ticket, signal?: AbortSignal): Promise<void> {
    const waiter = ticket as RedisTicket;
    const { perWindow, windowMs } = this.options;
    this.waiting.add(waiter);
    try {
      for (;;) {
        if (signal?.aborted) throw new LeftQueue();
        const [taken, waitMs] = await this.call(() =>
          this.redis.vkbTake(
            ...QUEUE_KEYS,
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
          ),
        );
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

  windowCreates(): Promise<number> {
    return this.call(() => this.redis.vkbWindowCreates(...QUEUE_KEYS, this.options.windowMs, this.marginMs));
  }

  windowFreesInMs(): Promise<number> {
    return this.call(() => this.redis.vkbWindowFrees(...QUEUE_KEYS, this.options.windowMs, this.marginMs));
  }
}
