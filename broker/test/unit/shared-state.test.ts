// The shared state's two homes keep one contract: the same checks run against the in-process state and
// against a real Redis (redis-state.ts, its Lua scripts included). Mints in flight are counted up to a
// limit and lapse by themselves; Venice's hold only lengthens; the journal gives back what is overdue;
// one replica leads at a time; the create queue hands out at most its window's turns, round-robin by
// repository; and a Redis that is gone makes every call fail with StoreUnavailable, until it is back.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisServer } from '../../../fakes/redis-server.ts';
import { REDIS_VERSION } from '../../../test/support/redis.ts';
import { LeftQueue, QueueFull } from '../../src/fair-queue.ts';
import { memoryState } from '../../src/memory-state.ts';
import { describeRedisError, redisAddress, redisState } from '../../src/redis-state.ts';
import { type SharedState, StoreUnavailable } from '../../src/shared-state.ts';

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
];
if (REDIS_VERSION) {
  homes.push(['in Redis', () => redisState({ ...QUEUE, url: (redis as RedisServer).url, onError: () => undefined })]);
}

describe.each(homes)('the shared state %s', (_, make) => {
  test('mints in flight: counted up to the limit, released, and lapsing by themselves', async () => {
    const state = await make();
    const repository = `repo-${Math.random()}`;
    const until = Date.now() + 60_000;
    expect(await state.inFlight.claim(repository, 'a', 2, until)).toBeUndefined();
    expect(await state.inFlight.claim(repository, 'b', 2, until)).toBeUndefined();
    expect(await state.inFlight.claim(repository, 'c', 2, until)).toBe(2);
    expect(await state.inFlight.count(repository)).toBe(2);
    await state.inFlight.release(repository, 'a');
    expect(await state.inFlight.count(repository)).toBe(1);
    expect(await state.inFlight.claim(repository, 'd', 3, Date.now() + 1_000)).toBeUndefined();
    await sleep(1_100);
    expect(await state.inFlight.count(repository)).toBe(1); // d lapsed; b remains
    await state.close();
  });

  test("Venice's hold only lengthens, and ends", async () => {
    const state = await make();
    await state.brake.holdFor(600);
    await state.brake.holdFor(100);
    expect(await state.brake.heldForMs()).toBeGreaterThan(400);
    await sleep(700);
    expect(await state.brake.heldForMs()).toBe(0);
    await state.close();
  });

  test('the journal gives back what is overdue, and forgets what was handed out; a key is new once per time; one replica leads', async () => {
    const state = await make();
    const id = `m-${Math.random()}`;
    await state.journal.intend({ id, tag: 'vek:o/r job r1.1 abcdef', repository: 'o/r', runId: '1' }, 300);
    await state.journal.intend({ id: `${id}-2`, tag: 'vek:o/r job r1.1 ghijkl', repository: 'o/r', runId: '1' }, 300);
    expect((await state.journal.overdue()).filter((intent) => intent.id.startsWith(id))).toEqual([]);
    await state.journal.handedOut(`${id}-2`);
    await sleep(350); // the store's own clock decides
    expect((await state.journal.overdue()).filter((intent) => intent.id.startsWith(id)).map((intent) => intent.id)).toEqual([id]);
    await state.journal.handedOut(id);
    await state.journal.handedOut(`${id}-never-written`); // harmless
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
      const ticket = await queue.admit(repository);
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
    expect(queue.depth()).toBe(0);
    // The window's turns and a queue timeout of about four windows: the fifth window is refused.
    const crowd = await Promise.all(
      Array.from({ length: 12 }, () =>
        Promise.resolve()
          .then(() => queue.admit('d'))
          .then(
            (ticket) => ticket,
            (error: unknown) => error,
          ),
      ),
    );
    const refused = crowd.filter((answer) => answer instanceof QueueFull);
    expect(refused.length).toBeGreaterThan(0);
    expect((refused[0] as QueueFull).retryAfterMs).toBeGreaterThan(0);
    for (const ticket of crowd) if (!(ticket instanceof QueueFull)) (ticket as { leave: () => void }).leave();
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
    await expect(state.inFlight.claim('r', 'a', 1, Date.now() + 1_000)).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.queue.admit('r')).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.brake.heldForMs()).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.journal.overdue()).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(state.queue.windowCreates()).rejects.toThrow(
      /^the broker's store \(Redis at 127\.0\.0\.1:\d+\) is (not connected|out of reach)/,
    );
    expect(errors.length).toBeGreaterThanOrEqual(5);
    await server.start();
    for (let tries = 0; tries < 50 && (await state.ready()) !== 'ok'; tries++) await sleep(100);
    expect(await state.ready()).toBe('ok');
    expect(await state.inFlight.claim('r', 'a', 1, Date.now() + 1_000)).toBeUndefined();
    await state.close();
    await server.dispose();
  });
});

test('the journal file of the process before is read at start, every intent overdue; a torn file is skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vek-state-'));
  const first = memoryState({ ...QUEUE, now: Date.now, stateDir: dir });
  void first.journal.intend({ id: 'm1', tag: 'vek:o/r job r1.1 abcdef', repository: 'o/r', runId: '1' }, 3_600_000);
  expect(JSON.parse(readFileSync(join(dir, 'mint-journal.json'), 'utf8')).intents).toHaveLength(1);
  const second = memoryState({ ...QUEUE, now: Date.now, stateDir: dir });
  return second.journal.overdue().then((overdue) => {
    expect(overdue.map((intent) => intent.id)).toEqual(['m1']);
    writeFileSync(join(dir, 'mint-journal.json'), '{"intents": [{"id": 1}, ');
    const third = memoryState({ ...QUEUE, now: Date.now, stateDir: dir });
    writeFileSync(join(dir, 'mint-journal.json'), '{"intents": {"m1": {}}}');
    const fourth = memoryState({ ...QUEUE, now: Date.now, stateDir: dir });
    return Promise.all([third.journal.overdue(), fourth.journal.overdue()]).then((none) => expect(none).toEqual([[], []]));
  });
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
