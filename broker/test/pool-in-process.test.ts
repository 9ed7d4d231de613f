// The warm pool in-process (broker/src/keys/pool.ts, mint.ts's re-shape): a mint takes a pool key and gets
// exactly the key it was granted (read back from Venice), with no create in its path; a pooled key
// spends nothing; a PATCH that fails or answers oddly costs a create, never a wrong key, and leaves no
// key behind; a drain deletes the pool; rotate orders by hand-out, not Venice's createdAt.
import { expect, test } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { INFERENCE_COST, type VeniceServer } from '../../fakes/venice-server.ts';
import { waitUntil } from '../../testkit/wait.ts';
import { call, startFakes, startTestBroker, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

const CEILINGS = { usd: 5, diem: 5, 'max-expiry': '2h', 'live-keys': 100 };
const RULES = [
  {
    name: 'pulls',
    match: { repository_owner: 'octo-org', event_name: 'pull_request' },
    operations: ['mint', 'rotate', 'delete'],
    ceilings: CEILINGS,
  },
  { name: 'pushes', match: { repository_owner: 'octo-org', event_name: 'push' }, ceilings: CEILINGS },
];

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;

stopAndScanAfterEach(() => ({ venice, issuer, broker }));

async function start(size: number, limits?: Record<string, unknown>): Promise<void> {
  ({ venice, issuer } = await startFakes());
  broker = await startTestBroker({ venice, issuer, rules: RULES, pool: { size, 'max-age': '30m' }, ...(limits ? { limits } : {}) });
  await waitUntil(() => pooled().length === size, 'the pool to fill');
  // Venice lists a key a moment before the broker has its answer: wait for the broker's own count too.
  await waitUntil(async () => (await scrape(broker)).value('broker_pool_keys') === size, "the broker's count of its pool");
}

const pooled = () => venice.liveKeys().filter((key) => key.description.startsWith('vek:pool '));

const push = (repository = 'octo-org/shop', run = '500') => issuer.sign(jobClaims(repository, run));
const pull = (pr: number) => issuer.sign(jobClaims('octo-org/shop', '500', { ref: `refs/pull/${pr}/merge`, event_name: 'pull_request' }));

test('a pool key becomes exactly the key granted, with no create in the mint; while pooled it spends nothing', async () => {
  await start(2);
  for (const key of pooled()) {
    expect(key).toMatchObject({ apiKeyType: 'INFERENCE', consumptionLimit: { usd: 0, diem: 0 }, limitPeriod: 'LIFETIME' });
    expect(Date.parse(key.expiresAt as string)).toBeLessThanOrEqual(Date.now() + 30 * 60_000);
    // An inert key can spend nothing: Venice refuses the request and charges nothing.
    const spent = await fetch(`${venice.apiUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.apiKey}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(spent.status).toBe(402);
    expect(key.usage).toEqual({ usd: 0, diem: 0 });
  }
  const pool = pooled().map((key) => key.id);
  const creates = venice.count('create');
  const body = {
    'usd-limit': '2',
    'diem-limit': '1',
    'expires-in': '30m',
    'limit-period': 'MONTH',
    'model-privacy': 'PRIVATE_ONLY',
    description: 'evals',
  };
  const answer = await call(broker, 'POST', '/v1/keys', { token: await push(), body });
  expect(answer.status).toBe(201);
  expect(pool).toContain(answer.json.id);
  expect(venice.count('create')).toBe(creates);
  const key = venice.keys.get(answer.json.id as string);
  expect(key).toMatchObject({
    description: answer.json.description,
    expiresAt: answer.json.expiresAt,
    consumptionLimit: { usd: 2, diem: 1 },
    limitPeriod: 'MONTH',
    modelPrivacy: 'PRIVATE_ONLY',
  });
  expect(answer.json.description).toMatch(/^evals vek:octo-org\/shop job r500\.1 [0-9a-z]{6}$/);
  // Now it spends, within its caps.
  const spend = await fetch(`${venice.apiUrl}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${answer.json.apiKey}` },
    body: '{}',
  });
  expect(spend.status).toBe(200);
  expect(key?.usage.usd).toBe(INFERENCE_COST);
  // (The Prometheus parser the suite uses drops a labelled histogram's count: read the line itself.)
  const exposition = await (await fetch(`${broker.metricsUrl}/metrics`)).text();
  const counts = exposition.split('\n').filter((line) => line.startsWith('broker_mint_seconds_count'));
  expect(counts.sort()).toEqual(['broker_mint_seconds_count{source="create"} 0', 'broker_mint_seconds_count{source="pool"} 1']);
  await waitUntil(() => pooled().length === 2, 'the pool to refill');
  expect((await scrape(broker)).value('broker_pool_keys')).toBe(2);
  expect((await scrape(broker)).value('broker_pool_size')).toBe(2);
  expect(await (await fetch(`${broker.metricsUrl}/`)).text()).toContain('<b>Warm pool</b><br>2 of 2 keys here');
  expect((await call(broker, 'DELETE', `/v1/keys/${answer.json.id}`, { token: await push() })).status).toBe(200);
});

test.each([
  ['fails', { kind: 'status', status: 500 } as const],
  ['answers with another period', { kind: 'patch-data', data: { limitPeriod: 'LIFETIME' } } as const],
])('a PATCH that %s: the pool key is deleted, the mint falls back to a create, no key is left behind', async (_, fault) => {
  await start(1);
  const [inert] = pooled();
  venice.inject('update', fault);
  const answer = await call(broker, 'POST', '/v1/keys', { token: await push(), body: {} });
  expect(answer.status).toBe(201);
  expect(answer.json.id).not.toBe(inert?.id);
  expect(venice.keys.has(inert?.id as string)).toBe(false);
  expect(venice.minted.find((key) => key.id === answer.json.id)?.description).toBe(answer.json.description);
  expect(broker.logs.join('\n')).toContain(`pool key ${inert?.id} could not be re-shaped`);
  expect((await call(broker, 'DELETE', `/v1/keys/${answer.json.id}`, { token: await push() })).status).toBe(200);
  await waitUntil(() => pooled().length === 1, 'the pool to refill');
  expect(venice.liveKeys().map((key) => key.id)).toEqual(pooled().map((key) => key.id));
});

test('a slow PATCH whose caller hangs up: the re-shaped key is deleted, never handed out', async () => {
  await start(1);
  const [inert] = pooled();
  venice.inject('update', { kind: 'delay', ms: 300 });
  await expect(call(broker, 'POST', '/v1/keys', { token: await push(), body: {}, timeoutMs: 150 })).rejects.toThrow();
  await waitUntil(() => !venice.keys.has(inert?.id as string), 'the unheld key to be deleted');
  await waitUntil(() => pooled().length === 1, 'the pool to refill');
  expect(venice.liveKeys().map((key) => key.id)).toEqual(pooled().map((key) => key.id));
  expect(broker.audit.at(-1)).toMatchObject({ action: 'mint', status: 408 });
});

test('a failed PATCH whose fallback would wait past the queue timeout is refused 429, the pool key deleted', async () => {
  // One create a minute, taken by the pool's fill: a create now would wait a minute.
  await start(1, { 'creates-per-minute': 1, 'queue-timeout': '5s' });
  const [inert] = pooled();
  venice.inject('update', { kind: 'status', status: 503 });
  const answer = await call(broker, 'POST', '/v1/keys', { token: await push(), body: {} });
  expect(answer.status).toBe(429);
  expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(answer.json.error).toMatch(/would wait longer than its queue timeout/);
  expect(venice.keys.has(inert?.id as string)).toBe(false);
});

test('a drain deletes the pool', async () => {
  await start(3);
  await broker.stop(1_000);
  expect(pooled()).toEqual([]);
  expect(broker.logs.join('\n')).toContain("deleted the 3 key(s) of this replica's pool");
});

test("rotate picks the older key by hand-out, though the newer key's pool key was created first", async () => {
  await start(2);
  const [, second] = pooled();
  // The first preview key is created afresh (its pool key's PATCH fails), after the pool's keys were.
  venice.inject('update', { kind: 'status', status: 500 });
  const first = await call(broker, 'POST', '/v1/keys', { token: await pull(7), body: { scope: 'pr', slot: 'web' } });
  expect(first.status).toBe(201);
  const rotated = await call(broker, 'POST', '/v1/keys', { token: await pull(7), body: { scope: 'pr', slot: 'web', rotate: true } });
  expect(rotated.json.id).toBe(second?.id);
  expect(Date.parse(second?.createdAt as string)).toBeLessThan(
    Date.parse(venice.minted.find((key) => key.id === first.json.id)?.createdAt as string) + 1,
  );
  expect(rotated.json).toMatchObject({ rotated: [first.json.id], rotateFailed: false });
  expect(venice.keys.has(first.json.id as string)).toBe(false);
  expect(venice.keys.has(rotated.json.id as string)).toBe(true);
  expect((await call(broker, 'DELETE', `/v1/keys/${rotated.json.id}`, { token: await pull(7) })).status).toBe(200);
});
