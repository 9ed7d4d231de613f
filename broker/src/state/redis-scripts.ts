/**
 * The Lua scripts of the Redis store (redis-state.ts), one constant each, as BullMQ keeps one script per
 * file: each header names every KEYS[i] and ARGV[i]. Every script that reads the time reads Redis's own
 * clock (TIME), so replicas whose hosts' clocks differ still agree. Keys all carry the hash tag {vkb}.
 *
 * The queue's keys are always KEYS[1..9], in this order (QUEUE_KEYS in redis-state.ts), and the queue's
 * helpers name them (TURNS … SERVED_COUNT) so the scripts read by name:
 *   1 turns (zset: turn id → start)     2 waiters (zset: ticket → arrival)   3 waiter-repo (hash)
 *   4 waiter-seen (hash: last poll)     5 waiter-taking (hash)               6 held (Venice's hold)
 *   7 seq (arrival counter)             8 served (hash: repo → served count) 9 served-count
 */

/** Redis's own clock, in ms. */
const NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** The queue's helpers, over KEYS[1..9]. */
const QUEUE = `${NOW_MS}
-- The queue's keys by name: KEYS[1..9] in QUEUE_KEYS's order (redis-state.ts).
local TURNS, WAITERS, WAITER_REPO, WAITER_SEEN, WAITER_TAKING = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local HELD, SEQ, SERVED, SERVED_COUNT = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local function drop(id)
  redis.call('ZREM', WAITERS, id)
  redis.call('HDEL', WAITER_REPO, id)
  redis.call('HDEL', WAITER_SEEN, id)
  redis.call('HDEL', WAITER_TAKING, id)
end
local function prune(now, stale)
  local seen = redis.call('HGETALL', WAITER_SEEN)
  for i = 1, #seen, 2 do
    if tonumber(seen[i + 1]) < now - stale then drop(seen[i]) end
  end
end
local function turn_time(now, n, per, window, margin)
  local recent = redis.call('ZRANGE', TURNS, -per, -1, 'WITHSCORES')
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
  for i = 1, 9 do
    if i ~= 6 then redis.call('PEXPIRE', KEYS[i], ttl) end -- not the hold: it ends when Venice said
  end
end
local function held_ms(max)
  local held = redis.call('PTTL', HELD)
  if held > max then
    held = max
    redis.call('PEXPIRE', HELD, held) -- a hold longer than any Venice asks for is cut where it is read
  end
  return math.max(held, 0)
end
-- A place for a caller of repo, unless its turn would come past the timeout: seq, or nil and how far past.
local function place(id, repo, now, per, window, margin, timeout, stale, ttl)
  prune(now, stale)
  local counts = {}
  for _, w in ipairs(redis.call('ZRANGE', WAITERS, 0, -1)) do
    local r = redis.call('HGET', WAITER_REPO, w)
    if r then counts[r] = (counts[r] or 0) + 1 end
  end
  local own = counts[repo] or 0
  local ahead = own
  for r, c in pairs(counts) do
    if r ~= repo then ahead = ahead + math.min(c, own + 1) end
  end
  local wait = turn_time(now, ahead, per, window, margin) - now
  if wait > timeout then return nil, wait - timeout end
  local seq = redis.call('INCR', SEQ)
  redis.call('ZADD', WAITERS, seq, id)
  redis.call('HSET', WAITER_REPO, id, repo)
  redis.call('HSET', WAITER_SEEN, id, now)
  touch(ttl)
  return seq
end
`;

/**
 * A mint's admission, all in one step: Venice's hold, the caller's Idempotency-Key, the repository's
 * live-keys (live leases plus mints in progress), a place in the queue; then the in-progress mark, the
 * intent and the Idempotency-Key's "in progress" are written.
 *
 * KEYS: 1-9 the queue; 10 in-flight:<repository id> (zset: mint id → lapses at); 11 leases:<repository id>
 *   (zset: key id → expires at); 12 journal (hash: mint id → "deadline|signed intent");
 *   13 idem:<repository id>:<Idempotency-Key> (or an unused key when there is none), 14 busy (set for
 *   ARGV 19 ms at every admission: the pool does not refill while mints arrive)
 * ARGV: 1 ticket id, 2 repository id, 3 perWindow, 4 windowMs, 5 marginMs, 6 timeoutMs, 7 staleMs,
 *   8 queue keys' ttl, 9 maxHoldMs, 10 mint id, 11 live-keys ceiling, 12 in-flight ms (the intent's first
 *   deadline too), 13 signed intent, 14 body hash ('' without an Idempotency-Key), 15 idempotency ttl ms,
 *   16 this replica's id, 17 the replica keys' prefix ('{vkb}:replica:'): a mint "in progress" on a
 *   replica that stopped heart-beating (killed) is not in progress any more, 18 '1' for a place in the
 *   queue, '0' for none (a mint served from the warm pool: it joins with JOIN only if that fails),
 *   19 how long this admission keeps the pool from refilling (ms)
 * Returns {'admitted', seq (0 without a place)} | {'held', ms} | {'mismatch'} | {'in-progress'} | {'replay', sealed answer}
 *   | {'live-keys', live, in flight} | {'queue-full', ms past the timeout}
 */
export const MINT_ADMIT = `${QUEUE}
local IN_FLIGHT, LEASES_OF_REPO, JOURNAL, IDEM, BUSY = KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14]
local id, repo = ARGV[1], ARGV[2]
local per, window, margin, timeout, stale = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()
local held = held_ms(tonumber(ARGV[9]))
if held > 0 then return {'held', held} end
if ARGV[14] ~= '' then
  local earlier = redis.call('GET', IDEM)
  if earlier then
    local record = cjson.decode(earlier)
    if record['h'] ~= ARGV[14] then return {'mismatch'} end
    if record['s'] == 'd' then return {'replay', record['r']} end
    if redis.call('EXISTS', ARGV[17] .. tostring(record['p'])) == 1 then return {'in-progress'} end
  end
end
redis.call('ZREMRANGEBYSCORE', IN_FLIGHT, '-inf', now)
redis.call('ZREMRANGEBYSCORE', LEASES_OF_REPO, '-inf', now)
local live, running = redis.call('ZCARD', LEASES_OF_REPO), redis.call('ZCARD', IN_FLIGHT)
if live + running >= tonumber(ARGV[11]) then return {'live-keys', live, running} end
-- Mints are arriving: the warm pool's refills wait until none has for a moment (TAKE_IDLE).
redis.call('SET', BUSY, '1', 'PX', tonumber(ARGV[19]))
local seq = 0
if ARGV[18] == '1' then
  local placed, over = place(id, repo, now, per, window, margin, timeout, stale, tonumber(ARGV[8]))
  if not placed then return {'queue-full', over} end
  seq = placed
end
local lapse = tonumber(ARGV[12])
redis.call('ZADD', IN_FLIGHT, now + lapse, ARGV[10])
if redis.call('PTTL', IN_FLIGHT) < lapse then redis.call('PEXPIRE', IN_FLIGHT, lapse) end
redis.call('HSET', JOURNAL, ARGV[10], (now + lapse) .. '|' .. ARGV[13])
if ARGV[14] ~= '' then
  redis.call('SET', IDEM, cjson.encode({s = 'p', h = ARGV[14], p = ARGV[16]}), 'PX', lapse)
end
return {'admitted', seq}
`;

/**
 * A waiter's look at its place: the head takes a turn when the window has one (and Venice's hold is
 * over); then its intent's deadline starts afresh, the create being sent next.
 *
 * KEYS: 1-9 the queue; 10 journal
 * ARGV: 1 ticket id, 2 repository id, 3 seq, 4 perWindow, 5 windowMs, 6 marginMs, 7 staleMs, 8 turn id,
 *   9 queue keys' ttl, 10 maxHoldMs, 11 mint id ('' for none), 12 the intent's deadline from now (ms)
 * Returns {1, 0} (taken) or {0, ms until its turn}
 */
export const TAKE = `${QUEUE}
local JOURNAL = KEYS[10]
local id, repo, seq = ARGV[1], ARGV[2], tonumber(ARGV[3])
local per, window, margin, stale = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()
prune(now, stale)
if not redis.call('ZSCORE', WAITERS, id) then
  redis.call('ZADD', WAITERS, seq, id)
  redis.call('HSET', WAITER_REPO, id, repo)
end
redis.call('HSET', WAITER_SEEN, id, now)
redis.call('HSET', WAITER_TAKING, id, 1)
local lists, repos, pos, served = {}, {}, {}, {}
for _, w in ipairs(redis.call('ZRANGE', WAITERS, 0, -1)) do
  if redis.call('HEXISTS', WAITER_TAKING, w) == 1 then
    local r = redis.call('HGET', WAITER_REPO, w)
    if not lists[r] then
      lists[r] = {}
      repos[#repos + 1] = r
      pos[r] = #repos
      served[r] = tonumber(redis.call('HGET', SERVED, r) or '-1')
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
local held = held_ms(tonumber(ARGV[10]))
if held > 0 then at = math.max(at, now + held) end
if index == 0 and at <= now then
  redis.call('ZADD', TURNS, now, ARGV[8])
  redis.call('ZREMRANGEBYRANK', TURNS, 0, -(per + 1))
  drop(id)
  redis.call('HSET', SERVED, repo, redis.call('INCR', SERVED_COUNT))
  touch(tonumber(ARGV[9]))
  local intent = ARGV[11] ~= '' and redis.call('HGET', JOURNAL, ARGV[11])
  if intent then
    local bar = string.find(intent, '|', 1, true)
    if bar then redis.call('HSET', JOURNAL, ARGV[11], (now + tonumber(ARGV[12])) .. string.sub(intent, bar)) end
  end
  return {1, 0}
end
return {0, at - now}
`;

/**
 * A place for a mint admitted without one (its pool key failed): as MINT_ADMIT gives it.
 * KEYS: 1-9 the queue. ARGV: 1 ticket id, 2 repository id, 3 perWindow, 4 windowMs, 5 marginMs,
 *   6 timeoutMs, 7 staleMs, 8 queue keys' ttl
 * Returns {'admitted', seq} | {'queue-full', ms past the timeout}
 */
export const JOIN = `${QUEUE}
local placed, over = place(ARGV[1], ARGV[2], now_ms(), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
if not placed then return {'queue-full', over} end
return {'admitted', placed}
`;

/**
 * A turn for the warm pool, taken only when nobody waits (no place in the queue, on any replica), no mint
 * was admitted for a moment (a burst served from the pools is still arriving), Venice holds nothing off
 * and the window has a turn free now: a caller never waits behind a refill.
 * KEYS: 1-9 the queue, 10 busy (see MINT_ADMIT). ARGV: 1 perWindow, 2 windowMs, 3 marginMs, 4 staleMs, 5 turn id, 6 queue keys'
 *   ttl, 7 maxHoldMs
 * Returns 1 (taken) or 0
 */
export const TAKE_IDLE = `${QUEUE}
local BUSY = KEYS[10]
local now = now_ms()
local per = tonumber(ARGV[1])
prune(now, tonumber(ARGV[4]))
if redis.call('ZCARD', WAITERS) > 0 or redis.call('EXISTS', BUSY) == 1 then return 0 end
if held_ms(tonumber(ARGV[7])) > 0 then return 0 end
if turn_time(now, 0, per, tonumber(ARGV[2]), tonumber(ARGV[3])) > now then return 0 end
redis.call('ZADD', TURNS, now, ARGV[5])
redis.call('ZREMRANGEBYRANK', TURNS, 0, -(per + 1))
touch(tonumber(ARGV[6]))
return 1
`;

/** A place given back. KEYS: 1-9 the queue. ARGV: 1 ticket id. */
export const LEAVE = `${QUEUE}
drop(ARGV[1])
return 1
`;

/** KEYS: 1-9 the queue. ARGV: 1 windowMs, 2 marginMs. Returns the turns taken in the current window. */
export const WINDOW_CREATES = `${QUEUE}
return redis.call('ZCOUNT', TURNS, '(' .. (now_ms() - tonumber(ARGV[1]) - tonumber(ARGV[2])), '+inf')
`;

/** KEYS: 1-9 the queue. ARGV: 1 windowMs, 2 marginMs. Returns ms until the oldest turn of the window ages out (0: none). */
export const WINDOW_FREES = `${QUEUE}
local now = now_ms()
local span = tonumber(ARGV[1]) + tonumber(ARGV[2])
local oldest = redis.call('ZRANGEBYSCORE', TURNS, '(' .. (now - span), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #oldest == 0 then return 0 end
return tonumber(oldest[2]) + span - now
`;

/**
 * A key handed out: its lease is recorded and its mint ends, in one step, unless the reconciler took its
 * intent (and so decides the key's fate: it leaves a mark when it does). An intent missing without that
 * mark was lost with the store (a flush, a failover to an empty replica): the mint goes on.
 *
 * KEYS: 1 journal, 2 lease:<key id>, 3 leases (zset: every lease), 4 leases:<repository id>,
 *   5 in-flight:<repository id>, 6 idem:<repository id>:<Idempotency-Key> (or an unused key),
 *   7 claimed:<mint id> (the reconciler's mark)
 * ARGV: 1 mint id, 2 key id, 3 signed lease, 4 the key's expiry (epoch ms), 5 the finished Idempotency-Key
 *   record ('' for none), 6 its ttl (ms), 7 how long a lease outlives its key (for the expiry's audit line)
 * Returns 1 (recorded) or 0 (the intent was taken: hand nothing out)
 */
export const HAND_OUT = `${NOW_MS}
local JOURNAL, LEASE, LEASES, LEASES_OF_REPO, IN_FLIGHT, IDEM, CLAIMED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
if redis.call('HDEL', JOURNAL, ARGV[1]) == 0 and redis.call('EXISTS', CLAIMED) == 1 then return 0 end
local now = now_ms()
local expires = tonumber(ARGV[4])
local life = math.max(1, expires - now + tonumber(ARGV[7]))
redis.call('SET', LEASE, ARGV[3], 'PX', life)
redis.call('ZADD', LEASES, expires, ARGV[2])
redis.call('ZADD', LEASES_OF_REPO, expires, ARGV[2])
if redis.call('PTTL', LEASES_OF_REPO) < life then redis.call('PEXPIRE', LEASES_OF_REPO, life) end
redis.call('ZREM', IN_FLIGHT, ARGV[1])
if ARGV[5] ~= '' then redis.call('SET', IDEM, ARGV[5], 'PX', ARGV[6]) end
return 1
`;

/**
 * A mint that hands nothing out. KEYS: 1 in-flight:<repository id>, 2 journal, 3 idem:<repository id>:<key>
 * (or an unused key). ARGV: 1 mint id, 2 '1' to drop its intent (no key can exist), 3 '1' to free its
 * Idempotency-Key.
 */
export const ABANDON = `
local IN_FLIGHT, JOURNAL, IDEM = KEYS[1], KEYS[2], KEYS[3]
redis.call('ZREM', IN_FLIGHT, ARGV[1])
if ARGV[2] == '1' then redis.call('HDEL', JOURNAL, ARGV[1]) end
if ARGV[3] == '1' then redis.call('DEL', IDEM) end
return 1
`;

/**
 * Leases not yet expired, as signed texts. KEYS: 1 leases (every one) or leases:<repository id>.
 * ARGV: 1 the lease key's prefix ('{vkb}:lease:'). The lease keys share the hash tag {vkb}.
 */
export const LIST_LEASES = `${NOW_MS}
local texts = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms(), '+inf')) do
  local text = redis.call('GET', ARGV[1] .. id)
  if text then texts[#texts + 1] = text end
end
return texts
`;

/**
 * Leases whose keys expired, each given once: taken out of the index and deleted. KEYS: 1 leases (every
 * one). ARGV: 1 the lease key's prefix. Returns their signed texts (those still kept).
 */
export const EXPIRED_LEASES = `${NOW_MS}
local texts = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms())) do
  local text = redis.call('GET', ARGV[1] .. id)
  if text then texts[#texts + 1] = text end
  redis.call('DEL', ARGV[1] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return texts
`;

/**
 * A lease ends (its key was deleted). KEYS: 1 lease:<key id>, 2 leases, 3 leases:<repository id>,
 * 4 idem:<repository id>:<key> (or an unused key). ARGV: 1 key id.
 */
export const END_LEASE = `
local LEASE, LEASES, LEASES_OF_REPO, IDEM = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
redis.call('DEL', LEASE)
redis.call('ZREM', LEASES, ARGV[1])
redis.call('ZREM', LEASES_OF_REPO, ARGV[1])
redis.call('DEL', IDEM)
return 1
`;

/** KEYS: 1 the hold. ARGV: 1 maxHoldMs. Returns ms held (0: none); a longer hold is cut to maxHoldMs. */
export const HELD = `
local held = redis.call('PTTL', KEYS[1])
if held > tonumber(ARGV[1]) then
  held = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], held)
end
return math.max(held, 0)
`;

/** KEYS: 1 the hold. ARGV: 1 ms (already cut to maxHoldMs). Lengthens the hold, never shortens it. */
export const HOLD = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
`;

/**
 * The reconciler takes an intent: out of the journal, with a mark that the hand-out reads. KEYS: 1 journal,
 * 2 claimed:<mint id>. ARGV: 1 mint id, 2 the mark's life (ms). Returns 1 (taken) or 0 (gone already).
 */
export const CLAIM = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 1
`;

/** KEYS: 1 journal. ARGV: none. Returns Redis's now (ms) and every intent ("deadline|signed intent"), flat. */
export const JOURNAL = `${NOW_MS}
local all = redis.call('HGETALL', KEYS[1])
table.insert(all, 1, tostring(now_ms()))
return all
`;
