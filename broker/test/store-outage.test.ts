// The broker's Redis stops mid-run, while a create is in flight. That caller gets 503 and no key: the
// key's lease cannot be recorded, so it is deleted (never a key without a lease). Then mints are answered 503 with
// Retry-After (never let through on per-process counts), a stranger's refusal is answered as always,
// /readyz is 503 naming the store, reconciliation says it failed, and Venice hears no create; when
// Redis is back (empty, as after a failover), service resumes without a restart.

import { expect } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { stopAll } from '../../testkit/stop.ts';
import { call, expectCleanAudit, startFakes, startTestBroker, TEST_DEFAULTS } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

const redis = useRedisServer();

withRedis('Redis stopped: mints 503 with Retry-After, /readyz 503, nothing created; Redis back: minting again', async () => {
  await redis.start();
  const { venice, issuer } = await startFakes({ venice: { createLimit: { count: 4, windowMs: 12_000 }, retryAfterHeader: false } });
  const broker = await startTestBroker({
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    ...inRedis(redis),
    limits: { 'creates-per-minute': 4, 'create-window': '12s', 'queue-timeout': '24s', 'orphan-scan-interval': '1s' },
  });
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
    expect((await call(broker, 'GET', '/readyz')).status).toBe(200);

    venice.inject('create', { kind: 'delay', ms: 600 });
    const inFlight = call(broker, 'POST', '/v1/keys', { token, body: {} });
    await venice.nextRequest('create');
    await redis.stop();
    // Its lease cannot be recorded: the key is deleted, never handed out, and the caller may retry.
    const lost = await inFlight;
    expect(lost.status).toBe(503);
    expect(lost.json.error).toMatch(/^the broker could not record the key's lease in its store, so the key was deleted and not handed out/);
    expect(broker.logs.join('\n')).toMatch(/could not record the lease of \S+ \(.*\); it is deleted, not handed out\./);
    expect(venice.liveKeys()).toHaveLength(1); // the first mint's key, which its caller holds
    const creates = venice.count('create');
    expect((await call(broker, 'POST', '/v1/keys', { body: {} })).status).toBe(401); // a refusal costs nothing: answered as always
    for (let i = 0; i < 3; i++) {
      const refused = await call(broker, 'POST', '/v1/keys', { token, body: {} });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.json.error).toMatch(/^the broker's shared store is out of reach/);
    }
    const notReady = await call(broker, 'GET', '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.json).toMatchObject({ ready: false, store: false, jwks: true, draining: false });
    expect((await call(broker, 'GET', '/healthz')).status).toBe(200); // alive all the same: no restart wanted
    expect(venice.count('create')).toBe(creates);
    await new Promise((done) => setTimeout(done, 1_200)); // a reconciliation pass meets the outage
    // Said in the operator's words, naming the address (never the client library's internals).
    const address = redis.url.replace(/^redis:\/\//, '').replace(/\/.*$/, '');
    expect(broker.logs.join('\n')).toContain(
      `"Redis at ${address} is out of reach (ECONNREFUSED); mints are answered 503 until it is back."`,
    );
    expect(broker.logs.join('\n')).toMatch(
      /"level":"warning".*reconciliation failed \(the broker's store \(Redis at 127\.0\.0\.1:\d+\) is not connected/,
    );
    expect(broker.logs.join('\n')).not.toMatch(/enableOfflineQueue|Stream isn't writeable/);
    expect((await scrape(broker)).value('broker_store_errors_total')).toBeGreaterThanOrEqual(3);

    await redis.start();
    for (let tries = 0; tries < 50 && (await call(broker, 'GET', '/readyz')).status !== 200; tries++) {
      await new Promise((done) => setTimeout(done, 100));
    }
    expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
    expect(broker.logs.join('\n')).toContain(`"Redis at ${address} is reachable again."`);
    expect(venice.requests.filter((request) => request.status === 429)).toEqual([]);
    expect(broker.audit.filter((line) => line.status === 503)).toHaveLength(4);
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(broker, issuer, venice);
  }
});
