// npm run bench -- --pool-only: the warm pool, at Venice's real creation limit (20 a minute, no
// Retry-After), three broker replicas (the committed bundle, each its own process) on one real Redis.
// Mints are sent as the action sends them (POST /v1/keys with a job's OIDC token), spread over the
// replicas request by request, timed from the request to the answer.
// 1. A full pool of 60 (20 per replica): 60 mints from 6 repositories arriving within 2 s. Targets:
//    all served within 10 s (without the pool the floor is 120 s), p99 under 2 s, no Venice 429, every
//    key exactly as granted (description, expiry, both caps, period, privacy: read back from Venice).
//    The pool's fill is timed too: the refill rate against the window's (20 a minute).
// 2. A burst of 60 against a pool of 21 (7 per replica): the first 21 at pool speed, the other 39 at the
//    window's rate (target ≤ 1.15× the floor for them, one window), fairness across the 6 repositories
//    (each repository's last key), and no refill while a caller waits.
// 3. A quiet broker: one mint through the pool against one create through the queue (median of 7, one
//    replica of each, interleaved; target: the pool no slower).
import { AUDIENCE, spawnBroker, type TestBroker } from '../fakes/broker-process.ts';
import { jobClaims, OidcIssuer } from '../fakes/oidc-issuer.ts';
import { RedisServer } from '../fakes/redis-server.ts';
import { VeniceServer } from '../fakes/venice-server.ts';
import { median, ms, percentile, printTable, spread, verdict } from './bench-report.ts';

const WINDOW_MS = 60_000;
const REPOSITORIES = ['shop', 'web', 'docs', 'api', 'app', 'infra'].map((name) => `octo-org/${name}`);
const DEFAULTS = { ceilings: { usd: 5, diem: 5, 'max-expiry': '2h', 'live-keys': 100 }, 'rate-limits': { mint: 100 } };
const BODY = { 'usd-limit': '2', 'diem-limit': '0.5', 'expires-in': '45m', 'limit-period': 'MONTH', 'model-privacy': 'PRIVATE_TEXT' };

interface Setup {
  redis: RedisServer;
  venice: VeniceServer;
  issuer: OidcIssuer;
  brokers: TestBroker[];
}

async function setUp(replicas: number, pool: number | undefined): Promise<Setup> {
  const redis = await new RedisServer().start();
  const venice = await new VeniceServer({ createLimit: { count: 20, windowMs: WINDOW_MS }, retryAfterHeader: false }).start();
  const issuer = await new OidcIssuer(AUDIENCE).start();
  const options = {
    venice,
    issuer,
    store: { 'redis-url-env': 'BROKER_REDIS_URL' },
    redisUrl: redis.url,
    defaults: DEFAULTS,
    limits: { 'queue-timeout': '5m' },
    ...(pool ? { pool: { size: pool, 'max-age': '1h' } } : {}),
  };
  const brokers = await Promise.all(Array.from({ length: replicas }, () => spawnBroker(options)));
  return { redis, venice, issuer, brokers };
}

async function tearDown(setup: Setup): Promise<void> {
  for (const broker of setup.brokers) await broker.stop();
  await setup.issuer.stop();
  await setup.venice.stop();
  await setup.redis.dispose();
}

const pooled = (venice: VeniceServer) => venice.liveKeys().filter((key) => key.description.startsWith('vek:pool '));

/** Waits for the pools to hold `count` keys (Venice's count: the brokers' follow within a moment). */
async function filled(setup: Setup, count: number): Promise<number> {
  const startedAt = performance.now();
  while (pooled(setup.venice).length < count) await new Promise((done) => setTimeout(done, 200));
  await new Promise((done) => setTimeout(done, 500));
  return performance.now() - startedAt;
}

interface Minted {
  repository: string;
  status: number;
  ms: number;
  at: number;
  json: Record<string, unknown>;
}

/** One mint as the action sends it, timed. */
async function mint(setup: Setup, repository: string, run: number, url = (setup.brokers[0] as TestBroker).url): Promise<Minted> {
  const token = await setup.issuer.sign(jobClaims(repository, String(run)));
  const startedAt = performance.now();
  const response = await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(BODY),
    signal: AbortSignal.timeout(360_000),
  });
  const json = (await response.json()) as Record<string, unknown>;
  return { repository, status: response.status, ms: performance.now() - startedAt, at: performance.now(), json };
}

/**
 * `count` mints from the six repositories, arriving evenly within `withinMs`, spread over the replicas
 * request by request as an HTTP load balancer spreads them (each replica serves from its own pool; a TCP
 * balancer that keeps a reused connection on one replica would send it more than its pool holds).
 */
async function burst(setup: Setup, count: number, withinMs: number): Promise<{ mints: Minted[]; startedAt: number }> {
  const startedAt = performance.now();
  const mints = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      await new Promise((done) => setTimeout(done, (i * withinMs) / count));
      const replica = setup.brokers[i % setup.brokers.length] as TestBroker;
      return mint(setup, REPOSITORIES[i % REPOSITORIES.length] as string, 20_000 + i, replica.url);
    }),
  );
  return { mints, startedAt };
}

/** Whether a handed-out key is, at Venice, exactly what the answer says it was granted. */
function asGranted(venice: VeniceServer, minted: Minted): boolean {
  const key = venice.keys.get(minted.json.id as string);
  return (
    key !== undefined &&
    key.description === minted.json.description &&
    key.expiresAt === minted.json.expiresAt &&
    key.consumptionLimit.usd === 2 &&
    key.consumptionLimit.diem === 0.5 &&
    key.limitPeriod === 'MONTH' &&
    key.modelPrivacy === 'PRIVATE_TEXT'
  );
}

async function fullPool() {
  const setup = await setUp(3, 20);
  try {
    const fillMs = await filled(setup, 60);
    const created = pooled(setup.venice).map((key) => Date.parse(key.createdAt));
    const first = Math.min(...created);
    const perWindow = [0, 1, 2, 3].map((window) => created.filter((at) => Math.floor((at - first) / WINDOW_MS) === window).length);
    // Full, and then idle: the window the fill used ages out before the burst (a pool is full a while
    // before a burst comes). A replica whose own pool runs out then creates without waiting.
    await new Promise((done) => setTimeout(done, Math.max(0, Math.max(...created) + WINDOW_MS + 2_000 - Date.now())));
    const before = setup.venice.requests.length;
    const { mints, startedAt } = await burst(setup, 60, 2_000);
    return {
      fillMs,
      perWindow,
      lastServedMs: Math.max(...mints.map((m) => m.at)) - startedAt,
      p99: percentile(
        mints.map((m) => m.ms),
        0.99,
      ),
      failed: mints.filter((m) => m.status !== 201).length,
      tooMany: setup.venice.requests.slice(before).filter((request) => request.status === 429).length,
      exact: mints.filter((m) => asGranted(setup.venice, m)).length,
      fromPool: mints.filter((m) => setup.venice.updateBodies.some((body) => (body as { id: string }).id === m.json.id)).length,
    };
  } finally {
    await tearDown(setup);
  }
}

async function largerBurst() {
  const setup = await setUp(3, 7);
  try {
    await filled(setup, 21);
    // Venice's window empty again before the burst, so the floor is exactly one window for the rest.
    const lastPoolCreate = Math.max(...pooled(setup.venice).map((key) => Date.parse(key.createdAt)));
    await new Promise((done) => setTimeout(done, Math.max(0, lastPoolCreate + WINDOW_MS + 2_000 - Date.now())));
    const creates = setup.venice.createBodies.length;
    const { mints, startedAt } = await burst(setup, 60, 2_000);
    const lastServed = Math.max(...mints.map((m) => m.at));
    const descriptions = setup.venice.createBodies.slice(creates).map((body) => (body as { description: string }).description);
    const callersCreates = descriptions.filter((description) => !description.startsWith('vek:pool ')).length;
    const firstRefill = descriptions.findIndex((description) => description.startsWith('vek:pool '));
    const sorted = [...mints].sort((a, b) => a.ms - b.ms);
    const poolSpeed = sorted.slice(0, 21).map((m) => m.ms);
    const rest = sorted.slice(21);
    return {
      poolP99: percentile(poolSpeed, 0.99),
      restMs: Math.max(...rest.map((m) => m.at)) - startedAt,
      restRatio: (Math.max(...rest.map((m) => m.at)) - startedAt) / WINDOW_MS,
      lastServedMs: lastServed - startedAt,
      failed: mints.filter((m) => m.status !== 201).length,
      refillBeforeCallers: firstRefill >= 0 && firstRefill < callersCreates,
      perRepository: REPOSITORIES.map((repository) => {
        const own = mints.filter((m) => m.repository === repository);
        return `${repository.slice(9)} ${((Math.max(...own.map((m) => m.at)) - startedAt) / 1000).toFixed(0)} s`;
      }),
    };
  } finally {
    await tearDown(setup);
  }
}

async function quiet() {
  const withPool = await setUp(1, 1);
  const without = await setUp(1, undefined);
  try {
    await filled(withPool, 1);
    const pool: number[] = [];
    const create: number[] = [];
    for (let round = 0; round < 7; round++) {
      pool.push((await mint(withPool, 'octo-org/shop', 30_000 + round)).ms);
      create.push((await mint(without, 'octo-org/shop', 40_000 + round)).ms);
      await filled(withPool, 1);
    }
    return { pool: spread(pool), create: spread(create), ratio: median(pool) / median(create) };
  } finally {
    await tearDown(withPool);
    await tearDown(without);
  }
}

export async function benchPool(): Promise<void> {
  const full = await fullPool();
  printTable('A full pool of 60 (3 replicas × 20) on one Redis: 60 mints from 6 repositories within 2 s', [
    ['all served in', 'p99 mint', 'from the pool', 'exactly as granted', 'failed', "Venice's 429s"],
    [
      `${(full.lastServedMs / 1000).toFixed(1)} s (≤ 10 s: ${verdict(full.lastServedMs <= 10_000)}; floor without a pool 120 s)`,
      `${full.p99.toFixed(0)} ms (< 2 s: ${verdict(full.p99 < 2_000)})`,
      `${full.fromPool} of 60`,
      `${full.exact} of 60 (${verdict(full.exact === 60)})`,
      String(full.failed),
      `${full.tooMany} (target 0: ${verdict(full.tooMany === 0)})`,
    ],
  ]);
  printTable('The pool filling from empty', [
    ['60 keys in', 'keys created in each minute from the first'],
    [`${(full.fillMs / 1000).toFixed(0)} s`, `${full.perWindow.join(', ')} (the window's rate: 20, 20, 20)`],
  ]);
  const larger = await largerBurst();
  printTable('A burst of 60 against a pool of 21 (3 × 7), the window empty', [
    [
      'the pool’s 21: p99',
      'the other 39 served in',
      'against one window',
      'failed',
      'a refill before a waiting caller',
      "each repository's last key",
    ],
    [
      `${larger.poolP99.toFixed(0)} ms`,
      `${(larger.restMs / 1000).toFixed(1)} s`,
      `${larger.restRatio.toFixed(2)}× (≤ 1.15×: ${verdict(larger.restRatio <= 1.15)})`,
      String(larger.failed),
      `${larger.refillBeforeCallers ? 'yes' : 'no'} (target no: ${verdict(!larger.refillBeforeCallers)})`,
      larger.perRepository.join(', '),
    ],
  ]);
  const calm = await quiet();
  printTable('A quiet broker: one mint at a time (median of 7, interleaved)', [
    ['through the pool', 'a create through the queue', 'ratio'],
    [ms(calm.pool), ms(calm.create), `${calm.ratio.toFixed(2)}× (≤ 1: ${verdict(calm.ratio <= 1)})`],
  ]);
}
