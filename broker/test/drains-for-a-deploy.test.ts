// A rolling deploy stops a replica (SIGTERM) while 10 callers and one job are queued at it and a create
// is in flight. At once /readyz turns 503 (here on the metrics listener, which stays up through the
// drain), new connections are refused, and every queued caller gets 503 with Retry-After and its own
// audit line; the create in flight finishes and its caller gets the key; the process exits 0. The job,
// the action's committed dist/, retries through the load balancer, now pointing at the other replica,
// which shares the window through Redis, and gets its key within its timeout.

import { expect } from 'vitest';
import { LoadBalancer } from '../../fakes/load-balancer.ts';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { runStep } from '../../fakes/runner.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { stopAll } from '../../testkit/stop.ts';
import { AUDIENCE, call, expectCleanAudit, spawnBroker, startFakes, TEST_DEFAULTS } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

const redis = useRedisServer();

withRedis(
  'SIGTERM with 10 callers and a job queued: each 503 with Retry-After and audited, /readyz 503, exit 0; the job gets its key elsewhere',
  async () => {
    await redis.start();
    const { venice, issuer } = await startFakes({ venice: { createLimit: { count: 4, windowMs: 12_000 }, retryAfterHeader: false } });
    const options = {
      venice,
      issuer,
      defaults: { ...TEST_DEFAULTS, 'rate-limits': { mint: 100 } },
      ...inRedis(redis),
      metrics: { host: '127.0.0.1', port: 0 },
      limits: { 'creates-per-minute': 4, 'create-window': '12s', 'queue-timeout': '60s', 'shutdown-timeout': '10s' },
    };
    const [leaving, staying] = await Promise.all([spawnBroker(options), spawnBroker(options)]);
    const balancer = await new LoadBalancer([leaving.url]).start();
    try {
      const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
      for (let i = 0; i < 3; i++) expect((await call(leaving, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
      // The window's fourth create is in flight (Venice answers it 3 s late) when the stop comes.
      venice.inject('create', { kind: 'delay', ms: 3_000 });
      const inFlight = call(leaving, 'POST', '/v1/keys', { token, body: {}, timeoutMs: 30_000 });
      await venice.nextRequest('create');
      const queued = Array.from({ length: 10 }, () => call(leaving, 'POST', '/v1/keys', { token, body: {}, timeoutMs: 30_000 }));
      const job = runStep('main', {
        inputs: { 'broker-url': balancer.url, 'broker-audience': AUDIENCE, 'api-url': venice.apiUrl, verify: 'false', timeout: '90s' },
        env: { ...issuer.jobEnv(jobClaims('octo-org/shop', '600')), GITHUB_RUN_ID: '600' },
        limitMs: 100_000,
      });
      const metricsUrl = leaving.metricsUrl as string;
      for (let tries = 0; tries < 200 && (await scrape(metricsUrl)).value('broker_queue_depth') < 11; tries++) {
        await new Promise((done) => setTimeout(done, 50));
      }
      expect((await scrape(metricsUrl)).value('broker_queue_depth')).toBe(11);
      expect((await call({ url: metricsUrl }, 'GET', '/readyz')).status).toBe(200);

      const exited = new Promise<number | null>((done) => leaving.child.once('exit', done));
      leaving.child.kill('SIGTERM');
      balancer.setBackends([staying.url]);
      const answers = await Promise.all(queued);
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(answer.json.error).toMatch(/^the broker is shutting down/);
      }
      // Draining: not ready (the create in flight is still being answered), and new connections refused.
      const draining = await call({ url: metricsUrl }, 'GET', '/readyz');
      expect(draining.status).toBe(503);
      expect(draining.json).toMatchObject({ ready: false, draining: true });
      await expect(fetch(`${leaving.url}/healthz`)).rejects.toThrow();

      expect((await inFlight).status).toBe(201);
      expect(await exited).toBe(0);
      const drained = leaving.audit.filter((line) => line.status === 503);
      expect(drained).toHaveLength(11); // the ten callers and the job's first attempt, one line each
      expect(
        drained.every((line) => line.action === 'mint' && line.outcome === 'refused' && /^shutting down/.test(String(line.reason))),
      ).toBe(true);
      expect(leaving.logs.join('\n')).toMatch(/"message":"stopped"/);

      const main = await job;
      expect(main.errors).toEqual([]);
      expect(main.stdout).toMatch(
        /minting the key: attempt failed \(HTTP 503, the broker said: "the broker is shutting down \(a deploy or a restart\); retry, and another replica will answer\."\); retrying in/,
      );
      expect(staying.audit).toEqual([expect.objectContaining({ action: 'mint', outcome: 'granted', keyId: main.outputs['key-id'] })]);
      expect(venice.requests.filter((request) => request.status === 429)).toEqual([]);
      for (const broker of [leaving, staying]) expectCleanAudit(broker, venice, issuer);
    } finally {
      await stopAll(balancer, leaving, staying, issuer, venice);
    }
  },
  120_000,
);
