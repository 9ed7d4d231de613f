// The shared state's homes keep one contract: the same checks run against the in-process state, the
// in-process state with a state-dir, and a real Redis (redis-state.ts, its Lua scripts included). A
// mint's admission counts live leases and mints in progress against live-keys; a hand-out records the
// lease and ends the mint in one step, unless the reconciler took its intent; an Idempotency-Key is in
// progress, then replayed, and another body is a mismatch; the journal gives back what is overdue on the
// store's clock, and an intent is taken once; leases are listed by repository, updated, ended, and
// expired once; Venice's hold only lengthens; one replica leads at a time; the create queue hands out at
// most its window's turns, round-robin by repository; a Redis that is gone makes every call fail with
// StoreUnavailable, until it is back.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisServer } from '../../../fakes/redis-server.ts';
import { REDIS_VERSION } from '../../../testkit/redis.ts';
import { LeftQueue } from '../../src/state/fair-queue.ts';
import { memoryState } from '../../src/state/memory-state.ts';
import { describeRedisError, redisAddress, redisState } from '../../src/state/redis-state.ts';
import { type HandOut, type MintAdmission, type SharedState, StoreUnavailable, type Ticket } from '../../src/state/shared-state.ts';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((done, fail) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      fail(new Error('aborted'));
    });
  });
const QUEUE = { perWindow: 2, windowMs: 1_200, timeoutMs: 5_000, sleep };

let redis: RedisServer | undefined;
beforeAll(async () => {
  if (REDIS_VERSION) redis = await new RedisServer().start();
});
afterAll(async () => {
  await redis?.dispose();
});

const homes: [string, () => Promise<SharedState>][] = [
  ['in this process', async () => memoryState({ ...QUEUE, now: Date.now, stateDir: undefined })],
  [
    'in this process, with a state-dir',
    async () => memoryState({ ...QUEUE, now: Date.now, stateDir: mkdtempSync(join(tmpdir(), 'vek-state-')) }),
  ],
];

/** A mint's admission with the contract's defaults; `ticket` is given back unless kept. */
function admission(overrides: Partial<MintAdmission> = {}): MintAdmission {
  const mintId = overrides.mintId ?? `m-${randomUUID()}`;
  return {
    mintId,
    repositoryId: 'r1',
    liveKeys: 100,
    inFlightMs: 60_000,
    intent: `signed intent of ${mintId}`,
    intentWithinMs: 60_000,
    idempotency: undefined,
    ...overrides,
  };
}

function handOut(mintId: string, keyId: string, overrides: Partial<HandOut> = {}): HandOut {
  return {
    mintId,
    repositoryId: 'r1',
    keyId,
    expiresAt: Date.now() + 60_000,
    signedLease: `lease of ${keyId}`,
    idempotency: undefined,
    ...overrides,
  };
}

async function admitted(state: SharedState, overrides: Partial<MintAdmission> = {}): Promise<Ticket> {
  const result = await state.mints.admit(admission(overrides));
  if (result.outcome !== 'admitted') throw new Error(`not admitted: ${JSON.stringify(result)}`);
  return result.ticket;
}
if (REDIS_VERSION) {
  homes.push(['in Redis', () => redisState({ ...QUEUE, url: (redis as RedisServer).url, onError: () => undefined })]);
}

describe.each(homes)('the shared state %s', (_, make) => {
  test('live-keys: live leases and mints in progress counted; a hand-out records the lease; an abandoned mint frees its place', async () => {
    const state = await make();
    const repositoryId = `repo-${randomUUID()}`;
    const first = admission({ repositoryId, liveKeys: 2 });
    const ticket = (await admitted(state, first)) as Ticket;
    ticket.leave();
    expect(await state.mints.handOut(handOut(first.mintId, 'k1', { repositoryId }))).toBe(true);
    expect(await state.leases.list(repositoryId)).toEqual(['lease of k1']);
    expect(await state.leases.get('k1')).toBe('lease of k1');
    const second = admission({ repositoryId, liveKeys: 2 });
    (await admitted(state, second)).leave();
    expect(await state.mints.admit(admission({ repositoryId, liveKeys: 2 }))).toEqual({ outcome: 'live-keys', live: 1, inFlight: 1 });
    await state.mints.abandon({ mintId: second.mintId, repositoryId, idempotencyKey: undefined, dropIntent: true });
    const third = admission({ repositoryId, liveKeys: 2, inFlightMs: 300 });
    (await admitted(state, third)).leave();
    // The reconciler takes the third's intent: its hand-out must hand nothing out.
    expect(await state.journal.claim(third.mintId)).toBe(true);
    expect(await state.journal.claim(third.mintId)).toBe(false);
    expect(await state.mints.handOut(handOut(third.mintId, 'k3', { repositoryId }))).toBe(false);
    expect(await state.leases.get('k3')).toBeUndefined();
    await sleep(400); // its mark lapses by itself (a crashed replica's)
    expect(await state.mints.admit(admission({ repositoryId, liveKeys: 1 }))).toEqual({ outcome: 'live-keys', live: 1, inFlight: 0 });
    await state.close();
  });

  test("an Idempotency-Key: in progress, then the same answer again; another body is a mismatch; the lease's end forgets it", async () => {
    const state = await make();
    const repositoryId = `repo-${randomUUID()}`;
    const idempotency = { key: `idem-${randomUUID()}`, bodyHash: 'h1', ttlMs: 60_000 };
    const first = admission({ repositoryId, idempotency });
    (await admitted(state, first)).leave();
    expect(await state.mints.admit(admission({ repositoryId, idempotency }))).toEqual({ outcome: 'in-progress' });
    expect(await state.mints.admit(admission({ repositoryId, idempotency: { ...idempotency, bodyHash: 'h2' } }))).toEqual({
      outcome: 'mismatch',
    });
    expect(await state.mints.admit(admission({ repositoryId: 'another', idempotency }))).toMatchObject({ outcome: 'admitted' });
    const finished = { key: idempotency.key, bodyHash: 'h1', sealedAnswer: 'sealed', ttlMs: 60_000 };
    expect(await state.mints.handOut(handOut(first.mintId, 'k1', { repositoryId, idempotency: finished }))).toBe(true);
    expect(await state.mints.admit(admission({ repositoryId, idempotency }))).toEqual({ outcome: 'replay', sealedAnswer: 'sealed' });
    await state.leases.end({ keyId: 'k1', repositoryId, idempotencyKey: idempotency.key });
    expect(await state.leases.get('k1')).toBeUndefined();
    expect(await state.mints.admit(admission({ repositoryId, idempotency }))).toMatchObject({ outcome: 'admitted' });
    // A mint given up frees its Idempotency-Key for the retry.
    const other = { key: `idem-${randomUUID()}`, bodyHash: 'h', ttlMs: 60_000 };
    const failed = admission({ repositoryId, idempotency: other });
    (await admitted(state, failed)).leave();
    await state.mints.abandon({ mintId: failed.mintId, repositoryId, idempotencyKey: other.key, dropIntent: false });
    expect(await state.mints.admit(admission({ repositoryId, idempotency: other }))).toMatchObject({ outcome: 'admitted' });
    await state.close();
  });

  test("the journal: overdue on the store's clock, deadline set afresh at the turn; leases listed, updated, ended, expired once", async () => {
    const state = await make();
    const repositoryId = `repo-${randomUUID()}`;
    const soon = admission({ repositoryId, inFlightMs: 300, intentWithinMs: 60_000 });
    const ticket = await admitted(state, soon);
    expect((await state.journal.overdue()).filter((intent) => intent.id === soon.mintId)).toEqual([]);
    await state.queue.take(ticket); // the turn: its deadline is now a minute away
    await sleep(350);
    expect((await state.journal.overdue()).filter((intent) => intent.id === soon.mintId)).toEqual([]);
    const lapsing = admission({ repositoryId, inFlightMs: 300 });
    (await admitted(state, lapsing)).leave();
    await sleep(350);
    expect((await state.journal.overdue()).filter((intent) => intent.id.startsWith('m-') && intent.id === lapsing.mintId)).toEqual([
      { id: lapsing.mintId, text: lapsing.intent },
    ]);
    expect(await state.mints.handOut(handOut(soon.mintId, 'k-live', { repositoryId }))).toBe(true);
    const brief = admission({ repositoryId });
    (await admitted(state, brief)).leave();
    expect(await state.mints.handOut(handOut(brief.mintId, 'k-brief', { repositoryId, expiresAt: Date.now() + 300 }))).toBe(true);
    await state.leases.update('k-live', 'lease of k-live, ending');
    expect((await state.leases.list(repositoryId)).sort()).toEqual(['lease of k-brief', 'lease of k-live, ending']);
    expect(await state.leases.list()).toEqual(expect.arrayContaining(['lease of k-live, ending']));
    await sleep(350);
    expect(await state.leases.list(repositoryId)).toEqual(['lease of k-live, ending']);
    expect((await state.leases.expired()).filter((text) => text === 'lease of k-brief')).toEqual(['lease of k-brief']);
    expect((await state.leases.expired()).filter((text) => text === 'lease of k-brief')).toEqual([]);
    await state.leases.end({ keyId: 'k-live', repositoryId, idempotencyKey: undefined });
    expect(await state.leases.list(repositoryId)).toEqual([]);
    await state.close();
  });

  test("Venice's hold only lengthens, ends, and holds admission; held unless held never re-arms", async () => {
    const state = await make();
    await state.brake.holdFor(600);
    await state.brake.holdFor(100);
    expect(await state.brake.heldForMs()).toBeGreaterThan(400);
    expect(await state.mints.admit(admission())).toMatchObject({ outcome: 'held' });
    await state.brake.holdUnlessHeld(5_000);
    expect(await state.brake.heldForMs()).toBeLessThanOrEqual(600);
    await sleep(700);
    expect(await state.brake.heldForMs()).toBe(0);
    await state.close();
  });

  test('a key is new once per time; one replica leads; a rate limiter; readiness', async () => {
    const state = await make();
    const delivery = `delivery:${Math.random()}`;
    expect(await state.firstTime(delivery, 500)).toBe(true);
    expect(await state.firstTime(delivery, 500)).toBe(false);
    await sleep(600);
    expect(await state.firstTime(delivery, 500)).toBe(true);
    const lead = `lead-${Math.random()}`;
    expect(await state.lead(lead, 500)).toBe(true);
    expect(await state.lead(lead, 500)).toBe(false);
    await sleep(600);
    expect(await state.lead(lead, 500)).toBe(true);
    const limiter = state.limiter(2, 60, `test-${Math.random()}`);
    await limiter.consume('x');
    await limiter.consume('x');
    await expect(limiter.consume('x')).rejects.toMatchObject({ remainingPoints: 0 });
    expect(await state.ready()).toBe('ok');
    await state.close();
  });

  test("the queue: at most the window's turns, round-robin by repository, a full queue refused, a leaver's turn given on", async () => {
    const state = await make();
    const { queue } = state;
    const order: string[] = [];
    const started = Date.now();
    const mint = async (repository: string, signal?: AbortSignal) => {
      const ticket = await admitted(state, { repositoryId: repository });
      await queue.take(ticket, signal);
      order.push(`${repository}@${Math.floor((Date.now() - started) / QUEUE.windowMs)}`);
    };
    // Four of a, then two of b: a takes the window's two turns; in the next windows b alternates with a.
    const burst = [mint('a'), mint('a'), mint('a'), mint('a')];
    await sleep(50);
    const leaving = new AbortController();
    const left = mint('c', leaving.signal).catch((error: unknown) => error);
    const later = [mint('b'), mint('b')];
    leaving.abort();
    expect(await left).toBeInstanceOf(LeftQueue);
    await Promise.all([...burst, ...later]);
    expect(order).toEqual(['a@0', 'a@0', 'b@1', 'a@1', 'b@2', 'a@2']);
    expect(await queue.windowCreates()).toBe(2);
    expect(await queue.windowFreesInMs()).toBeGreaterThan(0);
    expect(queue.depth()).toBe(0);
    // The window's turns and a queue timeout of about four windows: the fifth window is refused.
    const crowd = await Promise.all(Array.from({ length: 12 }, () => state.mints.admit(admission({ repositoryId: 'd' }))));
    const refused = crowd.filter((answer) => answer.outcome === 'queue-full');
    expect(refused.length).toBeGreaterThan(0);
    expect((refused[0] as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    for (const answer of crowd) if (answer.outcome === 'admitted') answer.ticket.leave();
    await state.close();
  }, 20_000);

  test("the warm pool's turns: idle ones only; a mint admitted without a place joins later; replicas alive", async () => {
    const state = await make();
    const { queue } = state;
    await sleep(QUEUE.windowMs + 100); // the turns of the tests before (Redis is shared) age out
    // Nobody waits and the window is empty: the pool may take its two turns, not a third.
    expect([await queue.takeIdle(), await queue.takeIdle(), await queue.takeIdle()]).toEqual([true, true, false]);
    await sleep(QUEUE.windowMs + 100);
    // A caller with a place: no idle turn while it waits.
    const waiting = await admitted(state, { repositoryId: 'e' });
    expect(await queue.takeIdle()).toBe(false);
    waiting.leave();
    // A mint served by a pool key holds no place: idle turns go on; if its key fails, it joins the queue.
    const unplaced = await admitted(state, { repositoryId: 'f', queued: false });
    expect(queue.depth()).toBe(0);
    // Mints are arriving: no refill for a thirtieth of the window after each admission.
    expect(await queue.takeIdle()).toBe(false);
    await sleep(QUEUE.windowMs / 30 + 20);
    expect(await queue.takeIdle()).toBe(true);
    const joined = await queue.join('f', unplaced.intent);
    expect('leave' in joined).toBe(true);
    expect(await queue.takeIdle()).toBe(false);
    await queue.take(joined as Ticket);
    // Past the queue timeout, joining says how far.
    const crowd = await Promise.all(Array.from({ length: 12 }, () => queue.join('g', undefined)));
    expect(crowd.some((place) => 'retryAfterMs' in place && place.retryAfterMs > 0)).toBe(true);
    for (const place of crowd) if ('leave' in place) place.leave();
    await state.brake.holdFor(60_000);
    expect(await queue.takeIdle()).toBe(false);
    expect(await state.alive(state.replica)).toBe(true);
    expect(await state.alive(randomUUID())).toBe(false);
    await state.close();
  }, 20_000);
});

describe.runIf(REDIS_VERSION)('Redis out of reach', () => {
  test('every call fails with StoreUnavailable and readiness is false; it all works again when Redis is back', async () => {
    const server = await new RedisServer().start();
    const errors: unknown[] = [];
    const state = await redisState({ ...QUEUE, url: server.url, onError: (error) => errors.push(error) });
    expect(await state.ready()).toBe('ok');
    await server.stop();
    await sleep(100);
    expect(await state.ready()).toBe('unreachable');
    await expect(state.mints.admit(admission())).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.mints.handOut(handOut('m', 'k'))).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.brake.heldForMs()).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.journal.overdue()).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.leases.list()).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.queue.windowCreates()).rejects.toThrow(
      /^the broker's store \(Redis at 127\.0\.0\.1:\d+\) is (not connected|out of reach)/,
    );
    expect(errors.length).toBeGreaterThanOrEqual(5);
    await server.start();
    for (let tries = 0; tries < 50 && (await state.ready()) !== 'ok'; tries++) await sleep(100);
    expect(await state.ready()).toBe('ok');
    expect(await state.mints.admit(admission())).toMatchObject({ outcome: 'admitted' });
    await state.close();
    await server.dispose();
  });

  test("the deployment's name: the first replica's, shared; one not of the broker's shape is not taken", async () => {
    const server = await new RedisServer().start();
    const first = await redisState({ ...QUEUE, url: server.url, onError: () => undefined });
    const second = await redisState({ ...QUEUE, url: server.url, onError: () => undefined });
    expect(first.deployment).toMatch(/^[0-9a-f]{8}$/);
    expect(second.deployment).toBe(first.deployment);
    await first.close();
    await second.close();
    const { Redis } = await import('ioredis');
    const writer = new Redis(server.url);
    await writer.set('{vkb}:deployment', 'not hex, from someone with access to Redis');
    writer.disconnect();
    const third = await redisState({ ...QUEUE, url: server.url, onError: () => undefined });
    expect(third.deployment).toMatch(/^[0-9a-f]{8}$/);
    await third.close();
    // Redis out of reach at start: a name of its own (it then reaps only the pool keys it named).
    const { url } = server;
    await server.dispose();
    const alone = await redisState({ ...QUEUE, url, onError: () => undefined });
    expect(alone.deployment).toMatch(/^[0-9a-f]{8}$/);
    expect(alone.deployment).not.toBe(first.deployment);
    await alone.close();
  });
});

test('the state file of the process before is read at start: every intent overdue, every lease kept; a torn file is skipped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vek-state-'));
  const first = memoryState({ ...QUEUE, now: Date.now, stateDir: dir });
  const kept = admission();
  (await admitted(first, kept)).leave();
  const done = admission();
  (await admitted(first, done)).leave();
  await first.mints.handOut(handOut(done.mintId, 'k1'));
  expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).intents).toHaveLength(1);
  const second = memoryState({ ...QUEUE, now: Date.now, stateDir: dir });
  expect((await second.journal.overdue()).map((intent) => intent.id)).toEqual([kept.mintId]);
  expect(await second.leases.list('r1')).toEqual(['lease of k1']);
  writeFileSync(join(dir, 'state.json'), '{"intents": [{"id": 1}, ');
  const third = memoryState({ ...QUEUE, now: Date.now, stateDir: dir });
  writeFileSync(join(dir, 'state.json'), '{"intents": {"m1": {}}, "leases": [["k", {}]]}');
  const fourth = memoryState({ ...QUEUE, now: Date.now, stateDir: dir });
  expect(await Promise.all([third.journal.overdue(), fourth.journal.overdue(), fourth.leases.list()])).toEqual([[], [], []]);
});

test("a store error says what went wrong in the operator's words, never the client library's", () => {
  const offline = new Error("Stream isn't writeable and enableOfflineQueue options is false");
  expect(describeRedisError(offline)).toEqual({ problem: 'unreachable', text: 'is not connected (the broker reconnects by itself)' });
  expect(describeRedisError(new Error('Connection is closed.')).problem).toBe('unreachable');
  expect(describeRedisError(new Error("OOM command not allowed when used memory > 'maxmemory'."))).toMatchObject({ problem: 'full' });
  expect(describeRedisError(new Error('Command timed out')).text).toBe('did not answer within store.command-timeout');
  expect(describeRedisError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })).text).toBe('is out of reach (ECONNREFUSED)');
  expect(describeRedisError('NOPERM this user has no permissions').text).toBe('refused the call (NOPERM this user has no permissions)');
  expect(redisAddress('rediss://broker:s3cret@redis.internal:6380/0')).toBe('redis.internal:6380');
  expect(redisAddress('redis://localhost')).toBe('localhost:6379');
  expect(redisAddress('not a url')).toBe('the configured address');
  const state = memoryState({ ...QUEUE, now: Date.now, stateDir: undefined });
  expect(state.failure(new Error('x'))).toBeInstanceOf(StoreUnavailable);
  expect(state.failure('y').message).toMatch(/y$/);
});

test('in memory, at most 50,000 keys are remembered as seen: past that, the oldest is forgotten first', async () => {
  const state = memoryState({ ...QUEUE, now: Date.now, stateDir: undefined });
  for (let i = 0; i <= 50_000; i++) await state.firstTime(`delivery:${i}`, 60_000);
  expect(await state.firstTime('delivery:1', 60_000)).toBe(false);
  expect(await state.firstTime('delivery:0', 60_000)).toBe(true); // the oldest went to make room
});
