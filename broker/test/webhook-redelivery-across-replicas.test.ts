// GitHub redelivers a webhook delivery, and the load balancer sends it to another replica: with the
// delivery ids in Redis, the second replica knows it, answers 200 as a duplicate and does nothing.

import { expect } from 'vitest';
import { deliver, workflowRunCompleted } from '../../fakes/github-webhooks.ts';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { stopAll } from '../../testkit/stop.ts';
import { call, expectCleanAudit, startFakes, startTestBroker, TEST_DEFAULTS } from './support/broker-bed.ts';

const SECRET = 'a-webhook-secret-for-tests-only';
const redis = useRedisServer();

withRedis('a redelivery that reaches another replica is a duplicate there: acted on once', async () => {
  await redis.start();
  const { venice, issuer } = await startFakes();
  const options = {
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    ...inRedis(redis),
    githubWebhook: { 'secret-env': 'GITHUB_WEBHOOK_SECRET' },
    webhookSecret: SECRET,
  };
  const [first, second] = [await startTestBroker(options), await startTestBroker(options)];
  try {
    const minted = await call(first, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', '970')), body: {} });
    const key = { id: minted.json.id as string };
    const payload = workflowRunCompleted('octo-org/shop', '970');
    const delivered = await deliver(first.url, 'workflow_run', payload, { signWith: SECRET });
    expect(delivered.status).toBe(202);
    const again = await deliver(second.url, 'workflow_run', payload, { signWith: SECRET, delivery: delivered.delivery });
    expect(again).toMatchObject({ status: 200, json: { duplicate: true } });
    for (let i = 0; i < 100 && venice.liveKeys().some((live) => live.id === key.id); i++) await new Promise((done) => setTimeout(done, 50));
    expect(venice.count('delete')).toBe(1);
    expect(second.audit).toEqual([]);
    for (const broker of [first, second]) expectCleanAudit(broker, venice, issuer, [SECRET]);
  } finally {
    await stopAll(first, second, issuer, venice);
  }
});
