// The organisation's policy decides: no matching rule is a 403; a request above a ceiling is clamped or
// refused as the rule says, and the answer (and the audit line) says which ceiling and what was granted.
import { expect, test } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { call, startFakes, startTestBroker, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;

async function start(rules: unknown[]): Promise<void> {
  ({ venice, issuer } = await startFakes());
  // Ceilings a rule leaves out come from defaults (every rule must have usd, diem, max-expiry, live-keys).
  broker = await startTestBroker({
    venice,
    issuer,
    rules,
    defaults: { ceilings: { usd: 5, diem: 5, 'max-expiry': '7d', 'live-keys': 10 } },
  });
}
stopAndScanAfterEach(() => ({ venice, issuer, broker }));

const CEILINGS = {
  usd: 5,
  diem: 2,
  periods: ['EPOCH', 'MONTH'],
  'max-expiry': '2h',
  'privacy-floor': 'PRIVATE_TEXT',
  scopes: ['job', 'run'],
};
const OVER = { 'usd-limit': '50', 'diem-limit': 'unlimited', 'limit-period': 'LIFETIME', 'expires-in': '7d', 'model-privacy': 'ALL' };

test('a repository no rule matches gets 403, and nothing is created', async () => {
  await start([{ name: 'octo-org', match: { repository_owner: 'octo-org' }, ceilings: CEILINGS }]);
  const token = await issuer.sign(jobClaims('evil-corp/shop', '500'));
  const answer = await call(broker, 'POST', '/v1/keys', { token, body: {} });
  expect(answer.status).toBe(403);
  expect(answer.json.error).toMatch(/^no rule of the broker's policy admits this workflow/);
  // The reason quotes nothing the caller sent; the audit line's fields say who it was.
  expect(answer.json.error).not.toMatch(/evil-corp/);
  expect(venice.count('create')).toBe(0);
  expect(broker.audit).toEqual([expect.objectContaining({ outcome: 'refused', status: 403, repository: 'evil-corp/shop' })]);
});

test('the first matching rule decides: globs follow GitHub filter syntax (* stops at /)', async () => {
  await start([
    { name: 'releases', match: { repository: 'octo-org/*', event_name: 'push', ref: 'refs/heads/release/*' }, ceilings: { usd: 20 } },
    {
      name: 'any-branch',
      match: { repository: 'OCTO-ORG/*', event_name: 'push', ref: 'refs/heads/**' },
      ceilings: { usd: 1 },
      'over-ceiling': 'clamp',
    },
  ]);
  const mint = async (ref: string) =>
    call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', '500', { ref })), body: { 'usd-limit': '10' } });
  expect((await mint('refs/heads/release/v2')).json.rule).toBe('releases');
  const nested = await mint('refs/heads/release/v2/hotfix');
  expect(nested.json.rule).toBe('any-branch');
  expect(nested.json.clamped).toEqual(['usd-limit 10 is above the ceiling 1: granted usd-limit 1']);
  expect(
    venice
      .liveKeys()
      .map((key) => key.consumptionLimit.usd)
      .sort(),
  ).toEqual([1, 10]);
});

test('clamp: every ceiling is lowered to, and the answer and audit say what was granted', async () => {
  await start([{ name: 'ci', match: { repository_owner: 'octo-org' }, 'over-ceiling': 'clamp', ceilings: CEILINGS }]);
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  const answer = await call(broker, 'POST', '/v1/keys', { token, body: OVER });
  expect(answer.status).toBe(201);
  expect(answer.json.clamped).toEqual([
    'usd-limit 50 is above the ceiling 5: granted usd-limit 5',
    'diem-limit unlimited is above the ceiling 2: granted diem-limit 2',
    'limit-period LIFETIME is not allowed (allowed: EPOCH, MONTH): granted limit-period EPOCH',
    'expires-in 7d is longer than 2h: granted expires-in 2h',
    'model-privacy ALL is below the floor PRIVATE_TEXT: granted model-privacy PRIVATE_TEXT',
  ]);
  expect(answer.json.granted).toMatchObject({
    'usd-limit': '5',
    'diem-limit': '2',
    'limit-period': 'EPOCH',
    'expires-in': '7200s',
    'model-privacy': 'PRIVATE_TEXT',
  });
  const [key] = venice.liveKeys();
  expect(key).toMatchObject({ consumptionLimit: { usd: 5, diem: 2 }, modelPrivacy: 'PRIVATE_TEXT' });
  expect(Date.parse(String(key?.expiresAt)) - Date.now()).toBeLessThanOrEqual(7_200_000);
  expect(broker.audit).toEqual([
    expect.objectContaining({
      outcome: 'clamped',
      status: 201,
      rule: 'ci',
      keyId: key?.id,
      caps: expect.objectContaining({ usd: 5, diem: 2, expiresInS: 7200 }),
    }),
  ]);
});

test('refuse: a request above a ceiling is refused with every reason, and nothing is created', async () => {
  await start([{ name: 'strict', match: { repository_owner: 'octo-org' }, ceilings: CEILINGS }]);
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  const answer = await call(broker, 'POST', '/v1/keys', { token, body: OVER });
  expect(answer.status).toBe(403);
  expect(answer.json.error).toBe(
    'rule "strict" refuses requests above its ceilings: usd-limit 50 is above the ceiling 5; diem-limit unlimited is above the ceiling 2; ' +
      'limit-period LIFETIME is not allowed (allowed: EPOCH, MONTH); expires-in 7d is longer than 2h; model-privacy ALL is below the floor PRIVATE_TEXT.',
  );
  expect(answer.json.rule).toBe('strict');
  // Within every ceiling, the same rule grants the request as asked.
  const within = { 'usd-limit': '5', 'diem-limit': '2', 'limit-period': 'MONTH', 'expires-in': '2h', 'model-privacy': 'PRIVATE_ONLY' };
  expect((await call(broker, 'POST', '/v1/keys', { token, body: within })).json.clamped).toEqual([]);
  expect(venice.count('create')).toBe(1);
});

test('a scope the rule does not allow is refused even when the rule clamps', async () => {
  await start([{ name: 'ci', match: { repository_owner: 'octo-org' }, 'over-ceiling': 'clamp', ceilings: CEILINGS }]);
  const token = await issuer.sign(jobClaims('octo-org/shop', '500', { ref: 'refs/pull/7/merge', event_name: 'pull_request' }));
  const answer = await call(broker, 'POST', '/v1/keys', { token, body: { scope: 'pr' } });
  expect(answer.status).toBe(403);
  expect(answer.json.error).toBe('rule "ci" does not allow scope pr (it allows job, run).');
});

test('live-keys: a repository at its ceiling is refused until a key goes', async () => {
  await start([{ name: 'ci', match: { repository_owner: 'octo-org' }, ceilings: { 'live-keys': 2 } }]);
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  const other = await issuer.sign(jobClaims('octo-org/web', '501'));
  const [first, second] = await Promise.all([
    call(broker, 'POST', '/v1/keys', { token, body: {} }),
    call(broker, 'POST', '/v1/keys', { token, body: {} }),
  ]);
  expect([first?.status, second?.status]).toEqual([201, 201]);
  const third = await call(broker, 'POST', '/v1/keys', { token, body: {} });
  expect(third.status).toBe(403);
  expect(third.json.error).toMatch(/allows octo-org\/shop 2 live key\(s\), and it holds 2/);
  // Another repository has its own count.
  expect((await call(broker, 'POST', '/v1/keys', { token: other, body: {} })).status).toBe(201);
  expect((await call(broker, 'DELETE', `/v1/keys/${first?.json.id}`, { token })).json.outcome).toBe('deleted');
  expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
});

test("a request body is checked with the inputs' own rules before anything is asked of Venice", async () => {
  await start([{ name: 'ci', match: { repository_owner: 'octo-org' }, ceilings: {} }]);
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  const answer = await call(broker, 'POST', '/v1/keys', { token, body: { 'usd-limit': 'lots', 'expires-in': '1 hour', slot: 'web' } });
  expect(answer.status).toBe(400);
  expect(answer.json.error).toBe(
    `field 'expires-in': "1 hour" is not a positive duration. Use whole numbers with units d, h, m, s in that order, e.g. "1h", "90s", "2h30m" or "7d". ` +
      `field 'usd-limit': "lots" is not a limit. Use a number from 0 to 9999999999, e.g. "5" or "0.5", or "unlimited".`,
  );
  expect(venice.requests.length).toBe(0);
});

test('the privacy floor lowers an unset or a weaker privacy alike', async () => {
  await start([
    { name: 'ci', match: { repository_owner: 'octo-org' }, 'over-ceiling': 'clamp', ceilings: { 'privacy-floor': 'PRIVATE_ONLY' } },
  ]);
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).json.clamped).toEqual([
    'model-privacy ALL (unset) is below the floor PRIVATE_ONLY: granted model-privacy PRIVATE_ONLY',
  ]);
  expect((await call(broker, 'POST', '/v1/keys', { token, body: { 'model-privacy': 'private_text' } })).json.clamped).toEqual([
    'model-privacy PRIVATE_TEXT is below the floor PRIVATE_ONLY: granted model-privacy PRIVATE_ONLY',
  ]);
  expect(venice.liveKeys().map((key) => key.modelPrivacy)).toEqual(['PRIVATE_ONLY', 'PRIVATE_ONLY']);
});

test('skip-delete (a job key that outlives its job) is refused unless the rule allows it', async () => {
  await start([
    { name: 'no-kept', match: { repository: 'octo-org/shop' } },
    { name: 'kept-ok', match: { repository: 'octo-org/web' }, 'allow-skip-delete': true },
  ]);
  const shop = await issuer.sign(jobClaims('octo-org/shop', '500'));
  const refused = await call(broker, 'POST', '/v1/keys', { token: shop, body: { 'skip-delete': 'true' } });
  expect(refused.status).toBe(403);
  expect(refused.json.error).toBe(
    'rule "no-kept" does not allow skip-delete (a job key that outlives its job); use scope run or pr, or ask for allow-skip-delete.',
  );
  const web = await issuer.sign(jobClaims('octo-org/web', '501'));
  const kept = await call(broker, 'POST', '/v1/keys', { token: web, body: { 'skip-delete': 'true' } });
  expect(kept.status).toBe(201);
  expect(kept.json.description).toMatch(/ kept r501\.1 /);
});
