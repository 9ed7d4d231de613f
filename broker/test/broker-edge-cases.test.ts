// The broker's less travelled paths, each with its answer and audit line: a preview key's pull request
// from the token's ref only, malformed ids and handles, Venice refusing or losing a create, the
// account's active-key limit, the issuer's keys out of reach, and callers that hang up while queued or
// while their key is being created (the key is then deleted: nobody could use it or delete it).
import { CompactSign } from 'jose';
import { expect, test } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { fastPolicy } from '../../testkit/fast-policy.ts';
import { call, startFakes, startTestBroker, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;

/** Any octo-org ref may mint; retries are fast unless the test needs the queue's real wait. */
async function start(limits?: Record<string, unknown>, { realSleeps = false } = {}): Promise<string> {
  ({ venice, issuer } = await startFakes());
  const rules = [{ name: 'octo-org', match: { repository_owner: 'octo-org' }, ceilings: {} }];
  broker = await startTestBroker({
    venice,
    issuer,
    rules,
    defaults: { ceilings: { usd: 5, diem: 5, 'max-expiry': '2h', 'live-keys': 10 } },
    ...(realSleeps ? {} : { policy: fastPolicy() }),
    ...(limits ? { limits } : {}),
  });
  return issuer.sign(jobClaims('octo-org/shop', '500'));
}
stopAndScanAfterEach(() => ({ venice, issuer, broker }));

/** Waits (bounded) until the broker has written `count` audit lines: it finishes after a caller hangs up. */
async function auditLines(count: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 100 && broker.audit.length < count; i++) await new Promise((done) => setTimeout(done, 50));
  return broker.audit;
}

test("a preview key takes its PR from the token's ref only: another PR in the body, or no PR in the token, is refused", async () => {
  const token = await start();
  const fromRef = await issuer.sign(jobClaims('octo-org/shop', '500', { ref: 'refs/pull/12/merge', event_name: 'pull_request' }));
  expect((await call(broker, 'POST', '/v1/keys', { token: fromRef, body: { scope: 'pr', slot: 'web' } })).json.description).toMatch(
    /^vek:octo-org\/shop#12 pr:web r500\.1 /,
  );
  // The same number in the body is accepted; another is refused, and the audit quotes neither.
  expect((await call(broker, 'POST', '/v1/keys', { token: fromRef, body: { scope: 'pr', 'pr-number': 12 } })).status).toBe(201);
  const other = await call(broker, 'POST', '/v1/keys', { token: fromRef, body: { scope: 'pr', 'pr-number': 999999999 } });
  expect(other.status).toBe(403);
  expect(other.json.error).toMatch(/^pr-number 999999999 is not the pull request this job's token names \(#12\)/);
  expect(broker.audit.at(-1)?.reason).toBe("field pr-number differs from the pull request the token's ref names.");
  // A token that names no PR (a push, or pull_request_target/issue_comment with a branch ref) gets no preview key.
  const refused = await call(broker, 'POST', '/v1/keys', { token, body: { scope: 'pr', 'pr-number': 13 } });
  expect(refused.status).toBe(403);
  const noPr = await call(broker, 'POST', '/v1/keys', { token, body: { scope: 'pr' } });
  expect(noPr.status).toBe(403);
  expect(noPr.json.error).toMatch(/^scope pr needs the token of a pull_request run/);
  // A job key minted on a pull_request run carries the PR in its tag, as on the direct path.
  expect((await call(broker, 'POST', '/v1/keys', { token: fromRef, body: {} })).json.description).toMatch(/^vek:octo-org\/shop#12 job /);
  expect(venice.count('create')).toBe(3);
});

test('malformed ids and handles are refused before Venice is asked', async () => {
  const token = await start();
  expect((await call(broker, 'DELETE', '/v1/keys/bad%20id', { token })).json.error).toBe('the key id is not one Venice writes.');
  for (const body of [{}, { handle: 'vek2.x' }, { handle: 42 }, null]) {
    const answer = await call(broker, 'POST', '/v1/keys/unwrap', { token, body });
    expect(answer.status).toBe(400);
    expect(answer.json.error).toMatch(/the body must be \{"handle": "vek1\.…"\}/);
  }
  const big = { handle: `vek1.${'A'.repeat(20_000)}` };
  expect((await call(broker, 'POST', '/v1/keys/unwrap', { token, body: big })).status).toBe(413);
  expect((await call(broker, 'DELETE', '/v1/keys/some-id', { token, body: big })).status).toBe(413);
  expect(venice.requests).toEqual([]);
  expect(broker.audit.map((line) => `${line.action} ${line.status}`)).toEqual([
    'delete 400',
    'unwrap 400',
    'unwrap 400',
    'unwrap 400',
    'unwrap 400',
    'unwrap 413',
    'delete 413',
  ]);
});

test('Venice refusing the create is a 502 that says so (never with the admin key); a lost answer is recovered', async () => {
  const token = await start();
  venice.inject('create', { kind: 'status', status: 403, error: `forbidden for ${venice.adminKey}` });
  const refused = await call(broker, 'POST', '/v1/keys', { token, body: {} });
  expect(refused.status).toBe(502);
  expect(refused.json.error).toMatch(/^Venice refused: Venice forbade creating the key \(403\)\. Venice said: "forbidden for \*\*\*"/);
  // Advice for a broker caller, who holds no admin key: never the action's "check the secret".
  expect(refused.json.error).toMatch(/The broker's operator should check the admin key's account and permissions\.$/);
  expect(refused.json.error).not.toMatch(/admin-key|secret/);
  expect(broker.audit.at(-1)).toMatchObject({ outcome: 'failed', status: 502 });

  venice.inject('create', { kind: 'reset-after' }); // the key is made, the answer lost: found by its tag and deleted
  const recovered = await call(broker, 'POST', '/v1/keys', { token, body: {} });
  expect(recovered.status).toBe(201);
  expect(venice.liveKeys().map((key) => key.id)).toEqual([recovered.json.id]);
  expect(broker.logs.join('\n')).toMatch(/its create answer was lost/);
});

test("the account's active-key limit is a 503 with Retry-After, before anything is created", async () => {
  const token = await start({ 'active-keys': 2 });
  venice.addKey({ description: 'someone else' });
  venice.addKey({ description: 'and another' });
  const answer = await call(broker, 'POST', '/v1/keys', { token, body: {} });
  expect(answer.status).toBe(503);
  expect(answer.headers.get('retry-after')).toBe('60');
  expect(answer.json.error).toMatch(/the Venice account holds 2 active keys, the most the broker may make/);
  expect(venice.count('create')).toBe(0);
});

test("the issuer's keys never fetched is a 503 with Retry-After (the caller may retry), not a 401", async () => {
  ({ venice, issuer } = await startFakes());
  issuer.jwksDown = true;
  broker = await startTestBroker({ venice, issuer, oidc: { 'jwks-cooldown': '30s' } });
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  const answers = await Promise.all(Array.from({ length: 20 }, () => call(broker, 'POST', '/v1/keys', { token, body: {} })));
  for (const answer of answers) {
    expect(answer.status).toBe(503);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(answer.json.error).toBe(`the issuer's keys could not be fetched from ${issuer.url}/.well-known/jwks; try again shortly.`);
  }
  // The fetch at start, and none for these twenty: the cooldown holds on failure too.
  expect(issuer.jwksFetches).toBe(1);
  expect(venice.requests).toEqual([]);
});

test('a signed token whose payload is not JSON, or whose header is not JSON, is refused with 401', async () => {
  await start();
  const key = issuer.published[0];
  const garbage = await new CompactSign(new TextEncoder().encode('not json'))
    .setProtectedHeader({ alg: 'RS256', kid: key?.kid })
    .sign(key?.privateKey as Parameters<CompactSign['sign']>[0]);
  expect((await call(broker, 'POST', '/v1/keys', { token: garbage, body: {} })).json.error).toBe('the token is not a valid JWT.');
  expect((await call(broker, 'POST', '/v1/keys', { token: 'bm90.anNvbg.c2ln', body: {} })).json.error).toBe('the token is not a JWT.');
});

test('a caller that hangs up while its key is being created gets the key deleted', async () => {
  const token = await start();
  venice.inject('create', { kind: 'delay', ms: 500 }); // made at once, answered late
  await expect(call(broker, 'POST', '/v1/keys', { token, body: {}, timeoutMs: 200 })).rejects.toThrow();
  const [line] = await auditLines(1);
  expect(line).toMatchObject({
    action: 'mint',
    outcome: 'refused',
    status: 408,
    reason: expect.stringMatching(/closed the connection before the key was handed over; it was deleted/),
  });
  expect(venice.count('create')).toBe(1);
  expect(venice.liveKeys()).toEqual([]);
});

test('when that key cannot be deleted either, the broker says so in its log, with the expiry', async () => {
  const token = await start();
  venice.inject('create', { kind: 'delay', ms: 500 });
  await expect(call(broker, 'POST', '/v1/keys', { token, body: {}, timeoutMs: 200 })).rejects.toThrow();
  venice.inject('list', { kind: 'status', status: 403 }); // the clean-up's list, after the live-keys check
  const [line] = await auditLines(1);
  expect(line?.reason).toMatch(/closed the connection before the key was handed over; it expires at 20\d\d-/);
  expect(broker.logs.join('\n')).toMatch(
    /"level":"warning".*could not delete key \S+, whose caller went away \(Venice forbade listing keys \(403\)/,
  );
  expect(venice.liveKeys()).toHaveLength(1); // left to its expiry, as the log says
});

test('a caller that hangs up while queued is let go, and nothing is created for it', async () => {
  const token = await start({ 'creates-per-minute': 1 }, { realSleeps: true });
  expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
  await expect(call(broker, 'POST', '/v1/keys', { token, body: {}, timeoutMs: 300 })).rejects.toThrow();
  const lines = await auditLines(2);
  expect(lines[1]).toMatchObject({
    status: 408,
    reason: 'the caller closed the connection while waiting for its turn; nothing was created.',
  });
  expect(venice.count('create')).toBe(1);
});

test('a repository already at its live-keys in mints in progress is told to retry (429) before anything is spent', async () => {
  ({ venice, issuer } = await startFakes());
  broker = await startTestBroker({
    venice,
    issuer,
    rules: [{ name: 'one', match: { repository_owner: 'octo-org' }, ceilings: { usd: 1, diem: 1, 'max-expiry': '1h', 'live-keys': 1 } }],
  });
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  venice.inject('create', { kind: 'delay', ms: 300 });
  const first = call(broker, 'POST', '/v1/keys', { token, body: {} });
  await venice.nextRequest('create');
  const listsBefore = venice.count('list');
  const second = await call(broker, 'POST', '/v1/keys', { token, body: {} });
  expect(second.status).toBe(429);
  expect(second.json.error).toBe(
    'rule "one" allows octo-org/shop 1 live key(s), and it holds 0 with 1 mint(s) in progress; retry when they are done.',
  );
  expect(venice.count('list')).toBe(listsBefore);
  expect((await first).status).toBe(201);
});

test('a key whose tag changed between the listing and the delete is kept; a rule without run keys opens no handle', async () => {
  const token = await start();
  const minted = await call(broker, 'POST', '/v1/keys', { token, body: { scope: 'run' } });
  venice.inject('get', { kind: 'patch-data', data: { description: 'renamed by hand' } });
  const kept = await call(broker, 'DELETE', `/v1/keys/${minted.json.id}`, { token });
  expect(kept.status).toBe(403);
  expect(kept.json.error).toBe(`key ${minted.json.id} no longer carries this repository's tag; it was not deleted.`);
  expect(venice.count('delete')).toBe(0);
  await broker.stop();
  broker = await startTestBroker({
    venice,
    issuer,
    rules: [
      {
        name: 'jobs-only',
        match: { repository_owner: 'octo-org' },
        ceilings: { usd: 1, diem: 1, 'max-expiry': '1h', 'live-keys': 5, scopes: ['job'] },
      },
    ],
  });
  const unwrap = await call(broker, 'POST', '/v1/keys/unwrap', { token, body: { handle: minted.json.handle } });
  expect(unwrap.status).toBe(403);
  expect(unwrap.json.error).toBe('rule "jobs-only" does not allow run keys, so this job may not open one.');
});
