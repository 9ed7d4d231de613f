// Three replicas of the broker, each the committed bundle as its own process, share one real Redis and
// one Venice account whose limit is 20 creations a minute, scaled down with its shape kept (4 per 12 s;
// the queue timeout is its two windows). Venice sends no Retry-After. Behind a load balancer, 10 jobs
// of one repository burst and 2 of another arrive a moment later (the 50 and 10, scaled), each
// the action's committed dist/ as the runner runs it. While the first window's creates are in flight
// (Venice answers them late), a replica holding one is killed with SIGKILL, then started again.
// Every job gets its key (the ones cut off retry through another replica); Venice never answers 429;
// the smaller repository's keys are all created before Venice's third window opens (first come, first
// served would leave them to the third); and once reconciliation has run, every key at Venice is one a
// job holds: the killed replica's orphans were found through the mint journal and deleted.
import { afterAll, beforeAll, expect } from 'vitest';
import type { TestBroker } from '../../fakes/broker-process.ts';
import { LoadBalancer } from '../../fakes/load-balancer.ts';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { RedisServer } from '../../fakes/redis-server.ts';
import { runStep, type StepResult } from '../../fakes/runner.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { inRedis, withRedis } from '../../testkit/redis.ts';
import { AUDIENCE, expectCleanAudit, spawnBroker, startFakes, TEST_DEFAULTS } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

const WINDOW_MS = 12_000;
let redis: RedisServer;
let venice: VeniceServer;
let issuer: OidcIssuer;
let balancer: LoadBalancer;
const replicas: (TestBroker & { child: import('node:child_process').ChildProcess })[] = [];
const retired: TestBroker[] = [];

beforeAll(async () => {
  redis = await new RedisServer().start();
});
afterAll(async () => {
  for (const replica of replicas) await replica.stop();
  await balancer?.stop();
  await issuer?.stop();
  await venice?.stop();
  await redis.dispose();
});

const startReplica = () =>
  spawnBroker({
    venice,
    issuer,
    ...inRedis(redis),
    limits: {
      'creates-per-minute': 4,
      'create-window': '12s',
      'queue-timeout': '24s',
      'venice-timeout': '12s',
      'orphan-scan-interval': '2s',
    },
    defaults: { ...TEST_DEFAULTS, 'rate-limits': { mint: 100 } },
  });

withRedis(
  'three replicas through one Redis: 12 jobs, one replica killed mid-burst; all served, 0 429s, fair, no orphan left',
  async () => {
    ({ venice, issuer } = await startFakes({ venice: { createLimit: { count: 4, windowMs: WINDOW_MS }, retryAfterHeader: false } }));
    replicas.push(...(await Promise.all([startReplica(), startReplica(), startReplica()])));
    balancer = await new LoadBalancer(replicas.map((replica) => replica.url)).start();
    // The first window's four creates are made at once but answered 2.5 s late: a kill now orphans them.
    venice.inject('create', { kind: 'delay', ms: 2_500 }, 4);

    const job = (repository: string, runId: string): Promise<StepResult> =>
      runStep('main', {
        inputs: {
          'broker-url': balancer.url,
          'broker-audience': AUDIENCE,
          'api-url': venice.apiUrl,
          verify: 'false',
          timeout: '150s',
        },
        env: { ...issuer.jobEnv(jobClaims(repository, runId)), GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: runId },
        limitMs: 170_000,
      });
    const shop = Array.from({ length: 10 }, (_, i) => job('octo-org/shop', String(900 + i)));
    await new Promise((done) => setTimeout(done, 300));
    const web = Array.from({ length: 2 }, (_, i) => job('octo-org/web', String(950 + i)));

    // Once four creates are at Venice, kill (SIGKILL) a replica that has one in flight, then start it again.
    let inFlight: number[] = [];
    for (let polls = 0; polls < 200; polls++) {
      inFlight = await Promise.all(replicas.map(async (replica) => (await scrape(replica)).value('broker_creates_in_flight')));
      if (inFlight.reduce((sum, count) => sum + count, 0) === 4) break;
      await new Promise((done) => setTimeout(done, 50));
    }
    const victim = inFlight.findIndex((count) => count > 0);
    expect(victim).toBeGreaterThanOrEqual(0);
    const killed = replicas[victim] as (typeof replicas)[number];
    const killedAt = Date.now();
    killed.child.kill('SIGKILL');
    await new Promise((done) => killed.child.once('exit', done));
    retired.push(killed);
    replicas.splice(victim, 1);
    balancer.setBackends(replicas.map((replica) => replica.url));
    await new Promise((done) => setTimeout(done, 2_000));
    replicas.push(await startReplica());
    balancer.setBackends(replicas.map((replica) => replica.url));

    const shopJobs = await Promise.all(shop);
    const webJobs = await Promise.all(web);
    for (const step of [...shopJobs, ...webJobs]) {
      expect(step.errors).toEqual([]);
      expect(step.exitCode).toBe(0);
    }
    const held = [...shopJobs, ...webJobs].map((step) => step.outputs['key-id'] as string);
    expect(new Set(held).size).toBe(12);
    // Some jobs were cut off by the kill and tried again through another replica.
    expect([...shopJobs, ...webJobs].some((step) => /attempt failed \(no answer from broker-url http:\S+ \(/.test(step.stdout))).toBe(true);

    // Venice never had to say no: the replicas kept to one window between them.
    expect(venice.requests.filter((request) => request.status === 429)).toEqual([]);

    // Fairness: the smaller repository's keys were all created before Venice's third window opened (the
    // first went to the burst, which was there first); first come, first served would put them in the third.
    const createdAt = (repository: string) =>
      venice.minted.filter((key) => key.description.startsWith(`vek:${repository} `)).map((key) => Date.parse(key.createdAt));
    const firstCreate = Math.min(...createdAt('octo-org/shop'));
    expect(createdAt('octo-org/web')).toHaveLength(2);
    expect(Math.max(...createdAt('octo-org/web'))).toBeLessThan(firstCreate + 2 * WINDOW_MS);

    // No orphan once reconciliation has run: every key at Venice is one a job holds. The killed replica's
    // keys (created, never handed out) are deleted by a surviving replica, each with an audit line.
    const deadline = Date.now() + 40_000;
    while (venice.liveKeys().some((key) => !held.includes(key.id)) && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 250));
    }
    expect(
      venice
        .liveKeys()
        .map((key) => key.id)
        .sort(),
    ).toEqual([...held].sort());
    const reconciled = replicas.flatMap((replica) => replica.audit.filter((line) => line.action === 'reconcile'));
    expect(reconciled.length).toBeGreaterThan(0);
    expect(reconciled.every((line) => line.outcome === 'deleted' && !held.includes(line.keyId as string))).toBe(true);
    const orphans = venice.minted.length - 12;
    expect(reconciled).toHaveLength(orphans);
    const reconciledAt = Math.max(...reconciled.map((line) => Date.parse(line.time as string)));
    process.stdout.write(
      `replicas: ${orphans} orphan(s) of the killed replica deleted ${((reconciledAt - killedAt) / 1000).toFixed(1)} s after the kill (intent deadline ${(WINDOW_MS * 7) / 6000} s, reconcile interval 2 s)\n`,
    );
    for (const replica of [...replicas, ...retired]) expectCleanAudit(replica, venice, issuer);
  },
  180_000,
);
