// Venice's 429 is a wait for the whole account, so one replica's 429 holds every replica off: two brokers
// share a real Redis; Venice answers one's listing 429 with Retry-After 3; meanwhile the other answers
// its callers 503 with Retry-After and sends Venice nothing, and the first replica's caller, whose
// request met the 429, waits in the queue until the wait is over and gets its key.

import { expect } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { fastPolicy } from '../../testkit/fast-policy.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { stopAll } from '../../testkit/stop.ts';
import { call, expectCleanAudit, startFakes, startTestBroker, TEST_DEFAULTS } from './support/broker-bed.ts';

const redis = useRedisServer();

withRedis("one replica's 429 from Venice holds the other off for the wait Venice gave", async () => {
  await redis.start();
  const { venice, issuer } = await startFakes();
  const options = {
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    ...inRedis(redis),
    // The retry policy's waits are recorded, not slept: the first replica waits out Venice's 429 at once.
    policy: fastPolicy(),
  };
  const [first, second] = [await startTestBroker(options), await startTestBroker(options)];
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    venice.inject('list', { kind: 'status', status: 429, retryAfter: '3' });
    const waiting = call(first, 'POST', '/v1/keys', { token, body: {} });
    await venice.nextRequest('list');
    await new Promise((done) => setTimeout(done, 200));
    const before = venice.requests.length;
    const held = await call(second, 'POST', '/v1/keys', { token, body: {} });
    expect(held.status).toBe(503);
    expect(Number(held.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(held.json.error).toMatch(/^Venice asked the broker to slow down/);
    expect(venice.requests.length).toBe(before);
    expect((await waiting).status).toBe(201);
    expect(venice.count('create')).toBe(1);
    for (const broker of [first, second]) expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(first, second, issuer, venice);
  }
});
