// Never a key without a lease, and never a lease the broker did not write, through the broker bundle as
// its own process on a real Redis:
// - Redis goes away while a create is in flight: that key's lease cannot be recorded, so the caller gets
//   503 with Retry-After and the key is deleted at Venice; when Redis is back and the reconciler has run,
//   the only key left is the one a caller received before, untouched.
// - A lease and an intent forged into Redis (by whoever can write to it, without the admin key) for a key
//   a caller holds delete nothing: not through a caller's delete, not through a webhook delivery, not
//   through the reconciler; the broker says in its log that a record failed verification.

import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { deliver, workflowRunCompleted } from '../../fakes/github-webhooks.ts';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { stopAll } from '../../testkit/stop.ts';
import { recordKeys, signRecord } from '../src/keys/sealed-records.ts';
import { call, expectCleanAudit, spawnBroker, startFakes, TEST_DEFAULTS } from './support/broker-bed.ts';

const redis = useRedisServer();
const SECRET = 'a-webhook-secret-for-tests-only';
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

withRedis("Redis gone at the hand-out: 503, and Venice keeps no key of it; the key a caller holds is never the reconciler's", async () => {
  await redis.start();
  const { venice, issuer } = await startFakes();
  const broker = await spawnBroker({
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    ...inRedis(redis),
    limits: { 'orphan-scan-interval': '1s' },
  });
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    const held = await call(broker, 'POST', '/v1/keys', { token, body: {} });
    expect(held.status).toBe(201);
    venice.inject('create', { kind: 'delay', ms: 600 });
    const inFlight = call(broker, 'POST', '/v1/keys', { token, body: {} });
    await venice.nextRequest('create');
    await redis.stop();
    const lost = await inFlight;
    expect(lost.status).toBe(503);
    expect(Number(lost.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(venice.liveKeys().map((key) => key.id)).toEqual([held.json.id]);
    await redis.start(); // back, empty: the intent of the lost mint went with it
    for (let tries = 0; tries < 50 && (await fetch(`${broker.url}/readyz`)).status !== 200; tries++) await sleep(100);
    await sleep(2_500); // reconcile passes
    expect(venice.liveKeys().map((key) => key.id)).toEqual([held.json.id]);
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(broker, issuer, venice, redis);
  }
});

withRedis('a lease and an intent forged into Redis delete nothing, and the broker says a record failed verification', async () => {
  await redis.start();
  const { venice, issuer } = await startFakes();
  const broker = await spawnBroker({
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    ...inRedis(redis),
    githubWebhook: { 'secret-env': 'GITHUB_WEBHOOK_SECRET' },
    webhookSecret: SECRET,
    limits: { 'orphan-scan-interval': '1s' },
  });
  const admin = new Redis(redis.url);
  try {
    // A key octo-org/web holds, and someone who can write to Redis but has no admin key.
    const web = await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/web', '700')), body: {} });
    expect(web.status).toBe(201);
    const keyId = web.json.id as string;
    const shopId = String((workflowRunCompleted('octo-org/shop', '1').repository as { id: number }).id);
    const forger = recordKeys('not-the-admin-key');
    const lease = {
      keyId,
      repositoryId: shopId,
      repository: 'octo-org/shop',
      scope: 'job',
      runId: '701',
      runAttempt: '1',
      description: web.json.description,
      handedOutAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
      rule: 'octo-org-main',
      state: 'live',
    };
    // The forged lease replaces the real one; an intent names the key's tag, overdue at once.
    await admin.set(`{vkb}:lease:${keyId}`, signRecord(forger, 'lease', lease));
    await admin.zadd(`{vkb}:leases:${shopId}`, lease.expiresAt, keyId);
    const tag = String(web.json.description).replace(/^.*?(vek:)/, '$1');
    const intent = signRecord(forger, 'intent', { id: 'forged', tag, repository: 'octo-org/web', runId: '700' });
    await admin.hset('{vkb}:journal', 'forged', `1|${intent}`);
    // A caller of octo-org/shop, run 701, asks to delete it; octo-org/shop's run 701 completes.
    const shop = await issuer.sign(jobClaims('octo-org/shop', '701'));
    expect((await call(broker, 'DELETE', `/v1/keys/${keyId}`, { token: shop })).status).toBe(403);
    await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '701'), { signWith: SECRET });
    await sleep(2_500); // the webhook's work and reconcile passes
    expect(venice.liveKeys().map((key) => key.id)).toEqual([keyId]);
    expect(venice.count('delete')).toBe(0);
    const logs = broker.logs.join('\n');
    expect(logs).toMatch(/a lease record in the store failed verification/);
    expect(logs).toMatch(/an intent in the mint journal failed verification/);
    expectCleanAudit(broker, venice, issuer, [SECRET]);
  } finally {
    await stopAll(admin, broker, issuer, venice, redis);
  }
});
