// Idempotent mints and a store that fails under the webhook, in-process on a real Redis (so coverage sees
// the broker's side; the bundle's runs are in leases-through-redis.test.ts): the same Idempotency-Key gets
// the same key again, 409 while the first is in progress, 422 with another body, 400 when the header is
// not one; an answer that cannot be opened again (altered in the store) is 409 and asks for a new key.
// A webhook delivery whose leases cannot be read says so in the log and deletes nothing.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { deliver, workflowRunCompleted } from '../../fakes/github-webhooks.ts';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { stopAll } from '../../testkit/stop.ts';
import { expectCleanAudit, startFakes, startTestBroker, TEST_DEFAULTS } from './support/broker-bed.ts';

const redis = useRedisServer();
const SECRET = 'a-webhook-secret-for-tests-only';

withRedis(
  'Idempotency-Key: the same key again, 409, 422, 400; an altered answer asks for a new key; a store failure under the webhook',
  async () => {
    await redis.start();
    const { venice, issuer } = await startFakes();
    const broker = await startTestBroker({
      venice,
      issuer,
      defaults: TEST_DEFAULTS,
      ...inRedis(redis),
      githubWebhook: { 'secret-env': 'GITHUB_WEBHOOK_SECRET' },
      webhookSecret: SECRET,
    });
    const admin = new Redis(redis.url);
    try {
      const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
      const mint = (key: string, body: Record<string, unknown> = {}) =>
        fetch(`${broker.url}/v1/keys`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify(body),
        }).then(async (answer) => ({
          status: answer.status,
          headers: answer.headers,
          json: (await answer.json()) as Record<string, unknown>,
        }));
      const key = randomUUID();
      const first = await mint(key, { 'usd-limit': '1', 'expires-in': '1h' });
      expect(first.status).toBe(201);
      // The same request, its fields in another order: the same key, said to be a replay.
      const again = await mint(key, { 'expires-in': '1h', 'usd-limit': '1' });
      expect(again).toMatchObject({ status: 201, json: { id: first.json.id, apiKey: first.json.apiKey, rule: first.json.rule } });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((await mint(key, { 'usd-limit': '2' })).status).toBe(422);
      expect((await mint('short')).status).toBe(400);
      venice.inject('create', { kind: 'delay', ms: 400 });
      const slowKey = randomUUID();
      const slow = mint(slowKey);
      await venice.nextRequest('create');
      expect((await mint(slowKey)).status).toBe(409);
      expect((await slow).status).toBe(201);
      // The answer altered in the store: it cannot be opened, so it is not given; a new key is asked for.
      const [record] = await admin.keys(`{vkb}:idem:*:${key}`);
      const stored = JSON.parse((await admin.get(record as string)) as string) as Record<string, unknown>;
      await admin.set(record as string, JSON.stringify({ ...stored, r: 'not-a-sealed-answer' }), 'KEEPTTL');
      const altered = await mint(key, { 'usd-limit': '1', 'expires-in': '1h' });
      expect(altered.status).toBe(409);
      expect(altered.json.error).toMatch(/cannot be given again; send a new key/);
      expect(venice.count('create')).toBe(2);

      // The store goes while a delivery's clean-up reads the leases: said, and nothing is deleted.
      await redis.stop();
      const delivered = await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '500'), { signWith: SECRET });
      expect(delivered.status).toBe(202);
      for (let tries = 0; tries < 100 && !broker.logs.some((line) => /could not read the leases of octo-org\/shop/.test(line)); tries++) {
        await new Promise((done) => setTimeout(done, 20));
      }
      expect(broker.logs.join('\n')).toMatch(
        /could not read the leases of octo-org\/shop for delivery \S+ \(the broker's store \(Redis at /,
      );
      expect(venice.count('delete')).toBe(0);
      expectCleanAudit(broker, venice, issuer, [SECRET]);
    } finally {
      await stopAll(admin, broker, issuer, venice, redis);
    }
  },
);
