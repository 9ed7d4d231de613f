// Turns to create are shared between repositories, through the broker as its own process, at Venice's
// rate scaled down with its shape kept (2 creations per 6 s is 20 per minute; the queue timeout keeps
// its 2-window ratio too): one repository bursts 60 mints and most of its queued callers hang up;
// their turns are given back, and another repository's mint, arriving after the burst, is served in
// the next free turn, ahead of the first repository's remaining queue. Venice never answers 429.
import { expect, test } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { call, spawnBroker, startFakes, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
stopAndScanAfterEach(() => ({ venice, issuer, broker }));

test("a repository's burst of 60 cannot starve another; abandoned turns are given back", async () => {
  ({ venice, issuer } = await startFakes({ venice: { createLimit: { count: 2, windowMs: 6_000 }, retryAfterHeader: false } }));
  broker = await spawnBroker({
    venice,
    issuer,
    limits: { 'creates-per-minute': 2, 'create-window': '6s', 'queue-timeout': '12s' },
    // 60 mints a minute is the default per repository: the burst alone would use them all.
    defaults: { 'rate-limits': { mint: 100 } },
  });
  const shop = await issuer.sign(jobClaims('octo-org/shop', '800'));
  const web = await issuer.sign(jobClaims('octo-org/web', '801'));
  const mint = (token: string, timeoutMs: number) =>
    call(broker, 'POST', '/v1/keys', { token, body: {}, timeoutMs }).catch(() => ({ status: 0 }) as const);

  // shop bursts 60: two get the window's turns, two are queued (turns at about 6 s), the rest would wait
  // past the queue timeout and get 429 at once. The queued two hang up after 3 s (their turns are at about 6 s): their turns go back.
  const burst = await Promise.all(Array.from({ length: 60 }, () => mint(shop, 3_000)));
  const statuses = burst.map((answer) => answer.status).sort();
  expect(statuses.filter((status) => status === 201)).toHaveLength(2);
  expect(statuses.filter((status) => status === 0)).toHaveLength(2); // hung up while queued
  expect(statuses.filter((status) => status === 429)).toHaveLength(56);
  expect(venice.count('create')).toBe(2);

  // Then shop queues three more, and web one, a moment later. First come, first served would give the
  // turns at about 6 s to shop's first two and leave web to about 12 s; round-robin gives web one at 6 s.
  const shopQueued = [mint(shop, 20_000), mint(shop, 20_000), mint(shop, 20_000)];
  await new Promise((done) => setTimeout(done, 200));
  const webAnswer = await mint(web, 20_000);
  expect(webAnswer.status).toBe(201);
  expect((await Promise.all(shopQueued)).map((answer) => answer.status)).toEqual([201, 201, 201]);

  expect(venice.count('create')).toBe(6); // nothing was created for the callers that hung up
  const order = venice.minted.map((key) => (key.description.includes('vek:octo-org/web ') ? 'web' : 'shop'));
  expect(order.indexOf('web')).toBeLessThanOrEqual(3); // among the two creates of the next free window
  expect(venice.requests.filter((request) => request.status === 429)).toEqual([]);
});
