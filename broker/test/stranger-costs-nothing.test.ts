// A stranger (a repository no rule admits) against the broker as its own process: 200 deletes of
// random ids, 200 unwraps and 200 mints cause no Venice request at all, are logged in aggregate (not a
// line each), and a repository the policy admits, from the same address, mints at once right after.
import { randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { call, spawnBroker, startFakes, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
stopAndScanAfterEach(() => ({ venice, issuer, broker }));

/** `count` requests, `concurrency` at a time. */
async function flood(count: number, concurrency: number, send: (i: number) => Promise<{ status: number }>): Promise<number[]> {
  const statuses: number[] = [];
  for (let start = 0; start < count; start += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - start) }, (_, i) => send(start + i));
    statuses.push(...(await Promise.all(batch)).map((answer) => answer.status));
  }
  return statuses;
}

test("a stranger's 600 deletes, unwraps and mints cost Venice nothing; an admitted mint right after succeeds", async () => {
  ({ venice, issuer } = await startFakes());
  broker = await spawnBroker({ venice, issuer });
  const atStart = venice.requests.length; // the broker's one check of its admin key
  const stranger = await issuer.sign(jobClaims('evil-corp/probe', '700'));
  const handle = `vek1.700.${'a'.repeat(12)}.${'A'.repeat(80)}`;
  const deletes = await flood(200, 50, () => call(broker, 'DELETE', `/v1/keys/${randomUUID()}`, { token: stranger }));
  const unwraps = await flood(200, 50, () => call(broker, 'POST', '/v1/keys/unwrap', { token: stranger, body: { handle } }));
  const mints = await flood(200, 50, () => call(broker, 'POST', '/v1/keys', { token: stranger, body: {} }));
  const statuses = [...deletes, ...unwraps, ...mints];
  // 403 (no rule) until the address has used its refusals for the minute, then 429.
  expect(new Set(statuses)).toEqual(new Set([403, 429]));
  expect(statuses.filter((status) => status === 403)).toHaveLength(60);
  expect(venice.requests.length).toBe(atStart);

  const admitted = await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', '701')), body: {} });
  expect(admitted.status).toBe(201);
  expect(venice.count('create')).toBe(1);
  expect(venice.failedRequests()).toBe(0);

  await broker.stop(); // the minute's counts are written when the broker stops
  const lines = broker.audit;
  const individual = lines.filter((line) => line.action !== 'refusals' && line.outcome === 'refused');
  expect(individual).toHaveLength(20);
  const [aggregate] = lines.filter((line) => line.action === 'refusals');
  expect(aggregate).toMatchObject({ outcome: 'aggregated', count: 580, byReason: { '403 no-rule': 40, '429 address-limit': 540 } });
  expect(lines.filter((line) => line.outcome === 'granted')).toHaveLength(1);
});
