// The warm pool through the committed bundle, each replica its own process on one real Redis, against
// the Venice test server with PATCH: keys handed out from the pool are exactly as granted (read back from
// Venice), and while pooled they spend nothing; an odd PATCH costs a create and leaves no key behind;
// SIGTERM deletes the replica's pool; a replica killed with kill -9 leaves its pool keys, which another
// replica deletes within its reconcile interval; and a caller waiting for a turn is never passed by a
// refill. Venice's limit is scaled with its shape kept: 2 creates per 6 s (20 a minute).
import { afterEach, expect } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { RedisServer } from '../../fakes/redis-server.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { inRedis, withRedis } from '../../testkit/redis.ts';
import { waitUntil } from '../../testkit/wait.ts';
import { call, expectCleanAudit, spawnBroker, startFakes, TEST_DEFAULTS, type TestBroker } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

const test = withRedis;
let redis: RedisServer;
let venice: VeniceServer;
let issuer: OidcIssuer;
let replicas: (TestBroker & { child: import('node:child_process').ChildProcess })[] = [];

afterEach(async () => {
  for (const replica of replicas) await replica.stop();
  for (const replica of replicas) expectCleanAudit(replica, venice, issuer);
  replicas = [];
  await issuer?.stop();
  await venice?.stop();
  await redis?.dispose();
});

/** `count` replicas with a pool of `pool` keys each, on a Redis of their own (each test starts afresh). */
async function start(count: number, pool: number): Promise<void> {
  redis = await new RedisServer().start();
  ({ venice, issuer } = await startFakes());
  for (let i = 0; i < count; i++) {
    replicas.push(
      await spawnBroker({
        venice,
        issuer,
        defaults: TEST_DEFAULTS,
        ...inRedis(redis),
        limits: { 'creates-per-minute': 2, 'create-window': '6s', 'queue-timeout': '30s', 'orphan-scan-interval': '2s' },
        pool: { size: pool, 'max-age': '30m' },
      }),
    );
  }
}

const pooled = () => venice.liveKeys().filter((key) => key.description.startsWith('vek:pool '));
const token = (repository: string, run = '700') => issuer.sign(jobClaims(repository, run));

const poolKeys = async (replica: TestBroker) => (await scrape(replica)).value('broker_pool_keys');

test('keys from the pool are exactly as granted; pooled keys spend nothing; an odd PATCH costs a create and leaves nothing', async () => {
  await start(1, 2);
  const replica = replicas[0] as TestBroker;
  await waitUntil(async () => (await poolKeys(replica)) === 2, 'a full pool');
  for (const key of pooled()) {
    const spent = await fetch(`${venice.apiUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.apiKey}` },
      body: '{}',
    });
    expect(spent.status).toBe(402);
    expect(key.usage.usd).toBe(0);
  }
  const pool = pooled().map((key) => key.id);
  const body = { 'usd-limit': '3', 'diem-limit': '0.5', 'expires-in': '45m', 'limit-period': 'LIFETIME', 'model-privacy': 'PRIVATE_TEXT' };
  const answer = await call(replica, 'POST', '/v1/keys', { token: await token('octo-org/shop'), body });
  expect(answer.status).toBe(201);
  expect(pool).toContain(answer.json.id);
  expect(venice.keys.get(answer.json.id as string)).toMatchObject({
    description: answer.json.description,
    expiresAt: answer.json.expiresAt,
    consumptionLimit: { usd: 3, diem: 0.5 },
    limitPeriod: 'LIFETIME',
    modelPrivacy: 'PRIVATE_TEXT',
  });
  // The other pool key's PATCH answers with the caps it had: deleted, and the mint creates its key.
  const [other] = pooled();
  venice.inject('update', { kind: 'patch-data', data: { consumptionLimits: { usd: 0, diem: 0 } } });
  const fallback = await call(replica, 'POST', '/v1/keys', { token: await token('octo-org/docs'), body: {} });
  expect(fallback.status).toBe(201);
  expect(fallback.json.id).not.toBe(other?.id);
  expect(venice.keys.has(other?.id as string)).toBe(false);
  for (const [id, repository] of [
    [answer.json.id, 'octo-org/shop'],
    [fallback.json.id, 'octo-org/docs'],
  ] as const) {
    expect((await call(replica, 'DELETE', `/v1/keys/${id}`, { token: await token(repository) })).status).toBe(200);
  }
  expect(venice.liveKeys().every((key) => key.description.startsWith('vek:pool '))).toBe(true);
}, 60_000);

test("SIGTERM deletes the replica's pool; kill -9 leaves it to another replica, which deletes it within its reconcile interval", async () => {
  await start(2, 2);
  const [first, second] = replicas as [TestBroker & { child: import('node:child_process').ChildProcess }, TestBroker];
  // Two replicas share the window's 2 turns a 6 s: each pool fills as turns come free.
  await waitUntil(async () => (await poolKeys(first)) + (await poolKeys(second)) === 4, 'both pools full');
  expect(pooled()).toHaveLength(4);
  first.child.kill('SIGKILL');
  await new Promise((done) => first.child.once('exit', done));
  // Its heartbeat lapses in 6 s, then the next reconcile (every 2 s) deletes them: well within the bound.
  await waitUntil(() => pooled().length === 2, "the killed replica's pool keys deleted", { withinMs: 30_000 });
  // The line follows the deletions Venice already shows: waited for, not raced.
  await waitUntil(() => /deleted 2 pool key\(s\) of stopped replicas/.test(second.logs.join('\n')), 'the reap said in the log');
  await second.stop();
  expect(pooled()).toEqual([]);
  expect(second.logs.join('\n')).toContain("deleted the 2 key(s) of this replica's pool");
}, 60_000);

test('a caller waiting for a turn is never passed by a refill', async () => {
  await start(1, 2);
  const replica = replicas[0] as TestBroker;
  await waitUntil(async () => (await poolKeys(replica)) === 2, 'a full pool');
  const before = venice.createBodies.length;
  // Five callers at once: two served from the pool, three wait for creates at 2 per 6 s.
  const repositories = ['octo-org/a', 'octo-org/b', 'octo-org/c', 'octo-org/d', 'octo-org/e'];
  const answers = await Promise.all(
    repositories.map(async (repository) =>
      call(replica, 'POST', '/v1/keys', { token: await token(repository), body: {}, timeoutMs: 40_000 }),
    ),
  );
  expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201, 201, 201]);
  const creates = venice.createBodies.slice(before).map((body) => (body as { description: string }).description);
  // The three creates after the burst are the callers', not the pool's, whatever the pool wanted.
  expect(creates.slice(0, 3).every((description) => !description.startsWith('vek:pool '))).toBe(true);
  for (const [index, answer] of answers.entries()) {
    expect(
      (await call(replica, 'DELETE', `/v1/keys/${answer.json.id}`, { token: await token(repositories[index] as string) })).status,
    ).toBe(200);
  }
}, 60_000);
