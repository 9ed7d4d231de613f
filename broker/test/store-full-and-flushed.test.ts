// Readiness that tells the truth and waits that do not stack, through the broker bundle as a process on
// a real Redis:
// - Redis at maxmemory with noeviction answers PING but refuses every write: /readyz is 503 naming the
//   store as full, and a mint's 503 says the store is full; once Redis has room, minting resumes.
// - A value written into {vkb}:held by anyone who can reach Redis (a day, say) stops mints for at most
//   two creation windows (the clamp), not for its TTL.
// - Redis flushed mid-burst (the window and the queue forgotten while Venice's own window is full): the
//   waiting callers meet Venice's 429s, the hold is not re-armed a window per 429, and they are served
//   within 1.15x the floor (one window and its margin).

import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { stopAll } from '../../testkit/stop.ts';
import { call, expectCleanAudit, spawnBroker, startFakes, TEST_DEFAULTS } from './support/broker-bed.ts';

const redis = useRedisServer();
// Venice's 20 a minute, scaled: 4 per 3 s, without Retry-After.
const WINDOW_MS = 3_000;
const LIMITS = { 'creates-per-minute': 4, 'create-window': '3s', 'queue-timeout': '20s' };

withRedis('Redis full: /readyz 503 says so and the mint 503 says the store is full; a forged hold lasts at most the clamp', async () => {
  await redis.start();
  const { venice, issuer } = await startFakes();
  const broker = await spawnBroker({ venice, issuer, defaults: TEST_DEFAULTS, ...inRedis(redis), limits: LIMITS });
  const admin = new Redis(redis.url);
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);

    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1'); // below what Redis already uses: every write is refused
    expect(await admin.ping()).toBe('PONG'); // a PING still answers: readiness must not rely on it
    const ready = await call({ url: broker.metricsUrl as string }, 'GET', '/readyz');
    expect(ready).toMatchObject({ status: 503, json: { ready: false, store: false, storeProblem: 'full' } });
    expect((await call(broker, 'GET', '/readyz')).json).toMatchObject({ store: false, storeProblem: 'full' });
    const creates = venice.count('create');
    const refused = await call(broker, 'POST', '/v1/keys', { token, body: {} });
    expect(refused.status).toBe(503);
    expect(refused.json.error).toMatch(/^the broker's shared store is full \(Redis refuses writes at its memory limit\)/);
    expect(venice.count('create')).toBe(creates);
    await admin.config('SET', 'maxmemory', '0');
    expect((await call(broker, 'GET', '/readyz')).status).toBe(200);

    // A hold written by hand for ten minutes: mints wait at most two windows (6 s here), then go on.
    await admin.set('{vkb}:held', '1', 'PX', 600_000);
    const held = await call(broker, 'POST', '/v1/keys', { token, body: {} });
    expect(held.status).toBe(503);
    expect(Number(held.headers.get('retry-after'))).toBeLessThanOrEqual((2 * WINDOW_MS) / 1_000);
    expect(await admin.pttl('{vkb}:held')).toBeLessThanOrEqual(2 * WINDOW_MS);
    const started = Date.now();
    let minted = held;
    while (minted.status !== 201 && Date.now() - started < 4 * WINDOW_MS) {
      await new Promise((done) => setTimeout(done, 250));
      minted = await call(broker, 'POST', '/v1/keys', { token, body: {} });
    }
    expect(minted.status).toBe(201);
    expect(Date.now() - started).toBeLessThanOrEqual(2 * WINDOW_MS + 500);
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(admin, broker, issuer, venice, redis);
  }
});

withRedis('Redis flushed mid-burst: the waiting callers are served within 1.15x the floor, with no hold re-armed per 429', async () => {
  await redis.start();
  const { venice, issuer } = await startFakes({ venice: { createLimit: { count: 4, windowMs: WINDOW_MS }, retryAfterHeader: false } });
  const broker = await spawnBroker({ venice, issuer, defaults: TEST_DEFAULTS, ...inRedis(redis), limits: LIMITS });
  const admin = new Redis(redis.url);
  try {
    const tokens = await Promise.all(['shop', 'web'].map((name) => issuer.sign(jobClaims(`octo-org/${name}`, '500'))));
    const started = Date.now();
    // 40 at 20 a minute, scaled: 8 at 4 per window; the second 4 wait for the next window.
    const served = Array.from({ length: 8 }, (_, i) =>
      call(broker, 'POST', '/v1/keys', { token: tokens[i % 2] as string, body: {}, timeoutMs: 30_000 }).then((answer) => ({
        status: answer.status,
        at: Date.now() - started,
      })),
    );
    for (let tries = 0; tries < 100 && venice.count('create') < 4; tries++) await new Promise((done) => setTimeout(done, 20));
    await admin.flushall(); // the window and the queue are forgotten; Venice's window is still full
    const answers = await Promise.all(served);
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(201));
    const floor = WINDOW_MS + WINDOW_MS / 60; // one window and the arrival margin
    const last = Math.max(...answers.map((answer) => answer.at));
    // The flush did what it does in production: the broker forgot its window and met Venice's 429s.
    expect(venice.requests.filter((request) => request.status === 429).length).toBeGreaterThan(0);
    expect(last).toBeLessThanOrEqual(1.15 * floor);
    expect(venice.liveKeys()).toHaveLength(8);
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(admin, broker, issuer, venice, redis);
  }
});
