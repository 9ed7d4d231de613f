// The status page as an operator sees it: the broker bundle as its own process on a real Redis, keys
// minted for three repositories (some spent), and the page loaded in headless Chromium. The test reads
// the rendered DOM for what a person would look for (each repository's row, its count and its spend),
// keeps a screenshot (test-artifacts/status-page.png), finds no secret in the page, and checks that a
// hundred loads cost Venice at most one listing.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test as vitestTest } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { REPO } from '../../fakes/runner.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { inRedis, REDIS_VERSION, useRedisServer } from '../../testkit/redis.ts';
import { call, spawnBroker, startFakes, TEST_DEFAULTS, type TestBroker } from './support/broker-bed.ts';
import { CHROMIUM, renderedDom, screenshot } from './support/chromium.ts';

const redis = useRedisServer();
let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;

beforeAll(async () => {
  ({ venice, issuer } = await startFakes());
});
afterAll(async () => {
  await broker?.stop();
  await issuer.stop();
  await venice.stop();
});

/** Rows of the repositories table as text cells, from the rendered DOM. */
function repositoryRows(dom: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const [, name, cells] of dom.matchAll(/<tr data-repository="([^"]+)">(.*?)<\/tr>/g)) {
    rows.set(
      name as string,
      [...(cells as string).matchAll(/<td[^>]*>(.*?)<\/td>/g)].map(([, cell]) => (cell as string).replace(/<[^>]+>/g, '')),
    );
  }
  return rows;
}

/** Needs both a real redis-server and Chromium (each gate says how to get it when missing). */
const test = REDIS_VERSION && CHROMIUM ? vitestTest : vitestTest.skip;

test('three repositories on the page in Chromium: rows, counts and spend as Venice reports them; no secret; reloads cost one listing', async () => {
  await redis.start();
  broker = await spawnBroker({ venice, issuer, defaults: TEST_DEFAULTS, ...inRedis(redis) });
  const mints = { 'octo-org/shop': 3, 'octo-org/docs': 2, 'octo-org/site': 1 };
  const ids: Record<string, string[]> = {};
  for (const [repository, count] of Object.entries(mints)) {
    ids[repository] = [];
    for (let i = 0; i < count; i++) {
      const token = await issuer.sign(jobClaims(repository, String(600 + i)));
      const answer = await call(broker, 'POST', '/v1/keys', { token, body: {} });
      expect(answer.status).toBe(201);
      ids[repository]?.push(answer.json.id as string);
    }
  }
  const spend = (id: string | undefined, usd: number, diem: number) => {
    (venice.keys.get(id as string) as { usage: { usd: number; diem: number } }).usage = { usd, diem };
  };
  spend(ids['octo-org/shop']?.[0], 1.5, 0.25);
  spend(ids['octo-org/shop']?.[2], 0.75, 0);
  spend(ids['octo-org/docs']?.[1], 0.2, 1);

  const dom = await renderedDom(`${broker.metricsUrl}/`);
  const rows = repositoryRows(dom);
  expect([...rows.keys()]).toEqual(['octo-org/shop', 'octo-org/docs', 'octo-org/site']);
  // Repository, live, ending, oldest expiry, spent over 7 days (USD / DIEM), …
  expect(rows.get('octo-org/shop')?.slice(0, 3)).toEqual(['octo-org/shop', '3', '0']);
  expect(rows.get('octo-org/shop')?.[4]).toBe('2.25 / 0.25');
  expect(rows.get('octo-org/docs')?.[4]).toBe('0.20 / 1.00');
  expect(rows.get('octo-org/site')?.slice(1, 3)).toEqual(['1', '0']);
  expect(rows.get('octo-org/site')?.[4]).toBe('0.00 / 0.00');
  expect(dom).toContain('<span id="total">6</span> in 3 repositories');
  expect(dom).toContain('<span class="ok">redis: taking writes</span>');

  const artifacts = join(REPO, 'test-artifacts');
  mkdirSync(artifacts, { recursive: true });
  await screenshot(`${broker.metricsUrl}/`, join(artifacts, 'status-page.png'));
  const shopDom = await renderedDom(`${broker.metricsUrl}/repositories/octo-org/shop`);
  for (const id of ids['octo-org/shop'] ?? []) expect(shopDom).toContain(`<tr data-key="${id}">`);

  const secrets = [venice.adminKey, ...venice.minted.map((key) => key.apiKey), ...issuer.tokensIssued];
  expect(secrets.filter((secret) => dom.includes(secret) || shopDom.includes(secret))).toEqual([]);

  const before = venice.count('list');
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${broker.metricsUrl}/`, { signal: AbortSignal.timeout(10_000) });
    expect(response.status).toBe(200);
    await response.text();
  }
  expect(venice.count('list') - before).toBeLessThanOrEqual(1);
});
