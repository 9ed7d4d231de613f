// /metrics is Prometheus text (parsed by a parser of that format, not ours) with every metric the issue
// names declared from the start, and its counters agree with the audit log: requests by route and
// outcome, refusals, Venice requests by route, queue waits. No label carries a value a caller chose.

import { randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { stopAll } from '../../testkit/stop.ts';
import { BrokerMetrics } from '../src/observe/metrics.ts';
import { call, expectCleanAudit, startFakes, startTestBroker, TEST_DEFAULTS } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

const NAMED = {
  broker_requests_total: 'counter',
  broker_refusals_total: 'counter',
  broker_queue_depth: 'gauge',
  broker_queue_wait_seconds: 'histogram',
  broker_venice_requests_total: 'counter',
  broker_window_creates: 'gauge',
  broker_jwks_refreshes_total: 'counter',
  broker_store_errors_total: 'counter',
  broker_orphans_reconciled_total: 'counter',
};

test('every named metric is there from the start; after a mix of requests the counters agree with the audit lines', async () => {
  const { venice, issuer } = await startFakes();
  const broker = await startTestBroker({ venice, issuer, defaults: TEST_DEFAULTS });
  try {
    const before = await scrape(broker);
    for (const [name, type] of Object.entries(NAMED)) {
      expect(before.families.find((family) => family.name === name)?.type, name).toBe(type.toUpperCase());
    }
    expect(before.value('broker_requests_total', { route: 'mint', outcome: 'granted' })).toBe(0);
    expect(before.value('broker_jwks_refreshes_total', { result: 'ok' })).toBe(1); // fetched at start
    expect((await call(broker, 'GET', '/readyz')).json).toEqual({ ready: true, draining: false, jwks: true, store: true });

    const shop = await issuer.sign(jobClaims('octo-org/shop', '500'));
    const stranger = await issuer.sign(jobClaims('someone/else', '501'));
    const minted = await call(broker, 'POST', '/v1/keys', { token: shop, body: {} });
    expect(minted.status).toBe(201);
    expect((await call(broker, 'POST', '/v1/keys', { token: shop, body: { 'usd-limit': '1' } })).status).toBe(201);
    expect((await call(broker, 'POST', '/v1/keys', { token: shop, body: { 'expires-in': 'soon' } })).status).toBe(400);
    expect((await call(broker, 'POST', '/v1/keys', { token: stranger, body: {} })).status).toBe(403);
    expect((await call(broker, 'POST', '/v1/keys', { token: 'not-a-token', body: {} })).status).toBe(401);
    expect((await call(broker, 'DELETE', `/v1/keys/${randomUUID()}`, { token: shop })).status).toBe(200);
    expect((await call(broker, 'DELETE', `/v1/keys/${minted.json.id}`, { token: shop })).status).toBe(200);

    const after = await scrape(broker);
    const lines = broker.audit;
    const counted = new Map<string, number>();
    for (const line of lines) counted.set(`${line.action} ${line.outcome}`, (counted.get(`${line.action} ${line.outcome}`) ?? 0) + 1);
    for (const [key, count] of counted) {
      const [route, outcome] = key.split(' ') as [string, string];
      expect(after.value('broker_requests_total', { route, outcome }), key).toBe(count);
    }
    expect(after.sum('broker_requests_total')).toBe(lines.length);
    expect(after.sum('broker_refusals_total')).toBe(lines.filter((line) => line.outcome === 'refused').length);
    expect(after.value('broker_refusals_total', { reason: 'no-rule' })).toBe(1);
    expect(after.value('broker_refusals_total', { reason: 'bad-request' })).toBe(1);
    // One lease ended by post (the minted key's); the made-up id had no lease, though its answer is 200.
    expect(after.value('broker_leases_ended_total', { why: 'post' })).toBe(1);
    expect(after.sum('broker_venice_requests_total')).toBe(venice.requests.length);
    expect(after.sum('broker_venice_requests_total', { route: 'POST /api_keys' })).toBe(venice.count('create'));
    expect(after.value('broker_queue_wait_seconds')).toBe(2); // the histogram's count: two turns taken
    expect(after.value('broker_window_creates')).toBe(2);
    expect(after.value('broker_queue_depth')).toBe(0);
    // No label value is a caller's: no repository, owner, rule or key id anywhere in the text.
    const labels = after.families.flatMap((family) => family.metrics.flatMap((metric) => Object.values(metric.labels ?? {})));
    expect(labels.filter((value) => /octo-org|someone|shop|[0-9a-f]{8}-/.test(value))).toEqual([]);
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(broker, issuer, venice);
  }
});

test('with metrics on a listener of its own, /metrics, /readyz and /healthz are there and /metrics is not on the API', async () => {
  const { venice, issuer } = await startFakes();
  const broker = await startTestBroker({ venice, issuer, defaults: TEST_DEFAULTS, metrics: { host: '127.0.0.1', port: 0 } });
  try {
    const own = { url: broker.metricsUrl as string };
    expect(own.url).not.toBe(broker.url);
    expect((await scrape(own.url)).value('broker_jwks_refreshes_total', { result: 'ok' })).toBe(1);
    expect((await call(own, 'GET', '/readyz')).json).toMatchObject({ ready: true });
    expect((await call(own, 'GET', '/healthz')).status).toBe(200);
    expect((await fetch(`${broker.url}/metrics`)).status).toBe(404);
  } finally {
    await stopAll(broker, issuer, venice);
  }
});

test('Venice routes are named without ids or queries; anything else is one route, so labels stay few', () => {
  const route = (method: string, url: string) => BrokerMetrics.veniceRoute(method, new URL(url));
  expect(route('GET', 'https://api.venice.ai/api/v1/api_keys/0d8fbff0-5ab9-4ba1-94c2-fb2f19656310')).toBe('GET /api_keys/{id}');
  expect(route('GET', 'https://api.venice.ai/api/v1/api_keys/rate_limits')).toBe('GET /api_keys/rate_limits');
  expect(route('DELETE', 'https://api.venice.ai/api/v1/api_keys?id=abc')).toBe('DELETE /api_keys');
  expect(route('GET', 'https://api.venice.ai/api/v1/models')).toBe('GET /other');
});
