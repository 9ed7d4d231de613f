// The broker's brake on its own use of the admin key: after a 429 it sends Venice nothing until the
// wait given (or the rest of the window) is over, and after 5 failed answers in a row nothing for the
// abuse guard's 30 s; meanwhile a request that needs Venice is answered 503 with Retry-After.

import { randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { jobClaims } from '../../../fakes/oidc-issuer.ts';
import { fastPolicy } from '../../../testkit/fast-policy.ts';
import { stopAll } from '../../../testkit/stop.ts';
import { VeniceGuard } from '../../src/keys/venice-guard.ts';
import { memoryState } from '../../src/state/memory-state.ts';
import { call, expectCleanAudit, startFakes, startTestBroker, TEST_DEFAULTS } from '../support/broker-bed.ts';

const response = (status: number, headers: Record<string, string> = {}) => ({ status, headers, text: '' });

test('a 429 stops calls for the wait given, or the window; five failures in a row for 30 s; a success resets the count', async () => {
  let now = 0;
  const state = memoryState({ perWindow: 20, windowMs: 60_000, timeoutMs: 0, now: () => now, sleep: async () => {}, stateDir: undefined });
  const guard = new VeniceGuard(60_000, state.brake, (answer) =>
    answer.headers['retry-after'] ? 1_000 * Number(answer.headers['retry-after']) : undefined,
  );
  await guard.observe(response(429, { 'retry-after': '7' }));
  expect(await guard.blockedForMs()).toBe(7_000);
  now = 7_000;
  expect(await guard.blockedForMs()).toBe(0);
  await guard.observe(response(429));
  expect(await guard.blockedForMs()).toBe(60_000);
  now = 200_000;
  for (let i = 0; i < 4; i++) await guard.observe(response(400));
  await guard.observe(response(200)); // a success between: the streak starts again
  for (let i = 0; i < 4; i++) await guard.observe(response(404));
  expect(await guard.blockedForMs()).toBe(0);
  await guard.observe(response(401));
  expect(await guard.blockedForMs()).toBe(30_000);
  await guard.observe(response(500)); // a 5xx is neither a success nor a failed request for the abuse guard
  expect(await guard.blockedForMs()).toBe(30_000);
});

test('while Venice asks the broker to wait, mints and deletes get 503 with Retry-After and Venice hears nothing', async () => {
  const { venice, issuer } = await startFakes();
  // The retry policy's waits are recorded, not slept: the first mint waits out Venice's 429 at once.
  const broker = await startTestBroker({ venice, issuer, defaults: TEST_DEFAULTS, policy: fastPolicy() });
  const bed = { venice, broker };
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  bed.venice.inject('list', { kind: 'status', status: 429, retryAfter: '30' });
  // The mint's listing meets the 429 (the client waits it out within its own budget and succeeds);
  // the guard now holds every new request off for the 30 s Venice asked for.
  expect((await call(bed.broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
  const before = bed.venice.requests.length;
  const mint = await call(bed.broker, 'POST', '/v1/keys', { token, body: {} });
  expect(mint.status).toBe(503);
  expect(Number(mint.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(mint.json.error).toMatch(/^Venice asked the broker to slow down/);
  const deleted = await call(bed.broker, 'DELETE', `/v1/keys/${randomUUID()}`, { token });
  expect(deleted.status).toBe(503);
  expect(bed.venice.requests.length).toBe(before);
  expectCleanAudit(broker, venice, issuer);
  await broker.stop();
  await issuer.stop();
  await venice.stop();
});

test('a 429 without Retry-After holds until the oldest create of the window ages out, and is not re-armed by the next', async () => {
  const { venice, issuer } = await startFakes();
  const broker = await startTestBroker({ venice, issuer, defaults: TEST_DEFAULTS, policy: fastPolicy() });
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201); // a create in the window
    venice.inject('list', { kind: 'status', status: 429 }, 2);
    // The listing's 429s (no Retry-After): the client waits them out; the broker holds until the window frees.
    expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
    const held = await call(broker, 'POST', '/v1/keys', { token, body: {} });
    expect(held.status).toBe(503);
    const wait = Number(held.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(61); // the oldest create's minute, not a fresh one per 429
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(broker, issuer, venice);
  }
});
