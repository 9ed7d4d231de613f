// Rate limits per caller: each rule's requests per repository per minute (429 with Retry-After,
// audited), other repositories unaffected; refusals before a rule matched logged in aggregate, one
// line per minute with the counts by reason, the first few on lines of their own.
import { expect, test } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { call, startFakes, startTestBroker, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
stopAndScanAfterEach(() => ({ venice, issuer, broker }));

test("a repository past its rule's mint limit gets 429 with Retry-After; another repository is not held back", async () => {
  ({ venice, issuer } = await startFakes());
  broker = await startTestBroker({
    venice,
    issuer,
    defaults: { ceilings: { usd: 1, diem: 1, 'max-expiry': '1h', 'live-keys': 10 }, 'rate-limits': { mint: 2 } },
  });
  const shop = await issuer.sign(jobClaims('octo-org/shop', '500'));
  const web = await issuer.sign(jobClaims('octo-org/web', '501'));
  expect((await call(broker, 'POST', '/v1/keys', { token: shop, body: {} })).status).toBe(201);
  expect((await call(broker, 'POST', '/v1/keys', { token: shop, body: {} })).status).toBe(201);
  const third = await call(broker, 'POST', '/v1/keys', { token: shop, body: {} });
  expect(third.status).toBe(429);
  expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(third.json.error).toBe('rule "octo-org-main" allows 2 mint request(s) per minute per repository; retry after the wait given.');
  expect((await call(broker, 'POST', '/v1/keys', { token: web, body: {} })).status).toBe(201);
  expect(venice.count('create')).toBe(3);
  expect(broker.audit.at(-2)).toMatchObject({ action: 'mint', status: 429, rule: 'octo-org-main', repository: 'octo-org/shop' });
});

test('refusals before a rule matched: 20 lines a minute, then one line with the counts, written when the minute ends', async () => {
  let now = Date.parse('2026-11-30T10:00:00Z');
  const clock = (): number => now;
  ({ venice, issuer } = await startFakes({ clock }));
  broker = await startTestBroker({ venice, issuer, now: clock, limits: { 'refusals-per-address': 1_000 } });
  const stranger = await issuer.sign(jobClaims('evil-corp/x', '1'));
  for (let i = 0; i < 25; i++) await call(broker, 'POST', '/v1/keys', { token: stranger, body: {} });
  for (let i = 0; i < 5; i++) await call(broker, 'POST', '/v1/keys', { token: 'not-a-token' });
  expect(broker.audit).toHaveLength(20);
  now += 61_000;
  await call(broker, 'POST', '/v1/keys', { token: 'not-a-token' }); // the next minute: its own line again
  expect(broker.audit).toHaveLength(22);
  expect(broker.audit[20]).toMatchObject({
    action: 'refusals',
    outcome: 'aggregated',
    count: 10,
    byReason: { '403 no-rule': 5, '401 no-token': 5 },
    addresses: 1,
  });
  expect(broker.audit[21]).toMatchObject({ action: 'mint', status: 401 });
  expect(venice.requests).toEqual([]);
});

test("a request the broker cannot serve (a tag that cannot fit Venice's 64 characters) is a 500, audited, the reason in the log", async () => {
  ({ venice, issuer } = await startFakes());
  broker = await startTestBroker({ venice, issuer });
  // Everything at its longest at once: a 13-digit run id, a 3-digit attempt, a 9-digit PR and an 8-character slot.
  const token = await issuer.sign(
    jobClaims('octo-org/a-repository-name-well-past-twenty', '9999999999999', {
      run_attempt: '999',
      ref: 'refs/pull/999999999/merge',
      event_name: 'pull_request',
    }),
  );
  const answer = await call(broker, 'POST', '/v1/keys', { token, body: { scope: 'pr', slot: 'abcdefgh' } });
  expect(answer.status).toBe(500);
  expect(answer.json.error).toBe('the broker failed unexpectedly; its log says more.');
  expect(broker.logs.join('\n')).toMatch(/unexpected error: the key tag .* is longer than Venice's 64 characters/);
  expect(broker.audit.at(-1)).toMatchObject({ action: 'mint', outcome: 'failed', status: 500 });
  expect(venice.count('create')).toBe(0);
});
