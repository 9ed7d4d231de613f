// Behind a load balancer every client arrives from the proxy's address. With listen.trusted-proxies
// naming it, refusals before a rule matched are counted per client (the X-Forwarded-For hop the proxy
// appended), so one stranger's flood does not lock out the others; without it the header is ignored
// and a client cannot pick its own address to escape the limit.
import { afterEach, expect, test } from 'vitest';
import type { OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { startFakes, startTestBroker, stopAndScanAfterEach, TEST_DEFAULTS, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;

stopAndScanAfterEach(() => ({ venice, issuer, broker }));
afterEach(async () => {
  expect(venice.requests.filter((request) => request.call !== 'list')).toEqual([]);
});

async function start(trustedProxies?: string[]): Promise<void> {
  ({ venice, issuer } = await startFakes());
  broker = await startTestBroker({
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    limits: { 'refusals-per-address': 2 },
    ...(trustedProxies ? { trustedProxies } : {}),
  });
}

/** A request without a token (401 before a rule), as a proxy forwards it for `client`. */
async function refusedFor(client: string): Promise<number> {
  const response = await fetch(`${broker.url}/v1/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
    body: '{}',
    signal: AbortSignal.timeout(10_000),
  });
  await response.text();
  return response.status;
}

test('with the proxy trusted, each client has its own refusal count', async () => {
  await start(['127.0.0.1/32']);
  const first = [await refusedFor('203.0.113.1'), await refusedFor('203.0.113.1'), await refusedFor('203.0.113.1')];
  expect(first).toEqual([401, 401, 429]);
  // Another client behind the same proxy is not locked out; a forged hop to the left changes nothing.
  expect(await refusedFor('203.0.113.2')).toBe(401);
  expect(await refusedFor('198.51.100.7, 203.0.113.1')).toBe(429);
  const aggregated = broker.audit.filter((line) => line.status === 429);
  expect(aggregated.length).toBeGreaterThan(0);
});

test('without trusted proxies X-Forwarded-For is ignored: every request counts against the peer', async () => {
  await start();
  const statuses = [await refusedFor('203.0.113.1'), await refusedFor('203.0.113.2'), await refusedFor('203.0.113.3')];
  expect(statuses).toEqual([401, 401, 429]);
});
