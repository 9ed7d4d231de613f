// The issuer's keys through an outage: after one good fetch, 30 minutes without the issuer still admit
// valid tokens (stale-if-error), and the broker asks the issuer at most once per cooldown, however
// many tokens (good or junk) arrive. A virtual clock drives the half hour.
import { expect, test } from 'vitest';
import { jobClaims, newSigningKey, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { call, startFakes, startTestBroker, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
stopAndScanAfterEach(() => ({ venice, issuer, broker }));

test('a 30-minute JWKS outage after one good fetch admits valid tokens, with at most one fetch per cooldown', async () => {
  let now = Date.parse('2026-11-30T10:00:00Z');
  const clock = (): number => now;
  ({ venice, issuer } = await startFakes({ clock }));
  // Rate limits count real minutes (this half hour passes in milliseconds): lifted here, tested elsewhere.
  broker = await startTestBroker({
    venice,
    issuer,
    now: clock,
    oidc: { 'jwks-cooldown': '30s', 'jwks-refresh': '10m' },
    limits: { 'refusals-per-address': 100_000 },
    defaults: { 'rate-limits': { mint: 100_000 } },
  });
  expect(issuer.jwksFetches).toBe(1);
  issuer.jwksDown = true;
  const outageStart = now;
  const stranger = await newSigningKey('key-unknown');
  // A body the broker refuses (400) only after the token verified and a rule matched: no Venice request.
  const probe = { 'usd-limit': 'lots' };
  for (let second = 0; second <= 30 * 60; second += 15) {
    now = outageStart + second * 1000;
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    const admitted = await call(broker, 'POST', '/v1/keys', { token, body: probe });
    expect(admitted.status).toBe(400);
    // Junk tokens naming a key id the broker lacks would each ask the issuer again without the cooldown.
    const junk = await Promise.all(
      Array.from({ length: 3 }, async () =>
        call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', '500'), { key: stranger }), body: {} }),
      ),
    );
    for (const answer of junk) expect(answer.status).toBe(401);
  }
  const cooldowns = (30 * 60) / 30;
  expect(issuer.jwksFetches - 1).toBeLessThanOrEqual(cooldowns + 1);
  expect(issuer.jwksFetches).toBeGreaterThan(1); // it did keep trying
  expect(venice.requests).toEqual([]);
  // The issuer is back: the next refresh takes, and tokens are admitted as before.
  issuer.jwksDown = false;
  now += 31_000;
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  expect((await call(broker, 'POST', '/v1/keys', { token, body: probe })).status).toBe(400);
});

test('past jwks-stale-for without a good fetch, tokens get 503 with Retry-After, not 401', async () => {
  let now = Date.parse('2026-11-30T10:00:00Z');
  const clock = (): number => now;
  ({ venice, issuer } = await startFakes({ clock }));
  broker = await startTestBroker({ venice, issuer, now: clock, oidc: { 'jwks-cooldown': '30s', 'jwks-stale-for': '1h' } });
  issuer.jwksDown = true;
  now += 61 * 60_000;
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  const answer = await call(broker, 'POST', '/v1/keys', { token, body: {} });
  expect(answer.status).toBe(503);
  expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
});
