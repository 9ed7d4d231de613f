// The preview lifecycle's endpoints in-process, each refusal with its reason: a rule's operations
// (mint, use and delete by default; rotate, revoke and sweep only when listed), the PR a revoke may
// name, a sweep's ids, and rotate only with a preview key. What each answers, and that it touches only
// the caller's repository.
import { randomUUID } from 'node:crypto';
import { beforeEach, expect, test } from 'vitest';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { addOwnedKey } from '../../testkit/seed-keys.ts';
import { call, startFakes, startTestBroker, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
const CEILINGS = { usd: 5, diem: 5, 'max-expiry': '7d', 'live-keys': 100 };
beforeEach(async () => {
  ({ venice, issuer } = await startFakes());
  broker = await startTestBroker({
    venice,
    issuer,
    rules: [
      {
        name: 'pulls',
        match: { repository: 'octo-org/shop', event_name: 'pull_request' },
        operations: ['mint', 'rotate', 'revoke', 'sweep'],
        'allow-skip-delete': true,
        ceilings: CEILINGS,
      },
      {
        name: 'targets',
        match: { repository: 'octo-org/shop', event_name: 'pull_request_target' },
        operations: ['revoke'],
        ceilings: CEILINGS,
      },
      { name: 'defaults', match: { repository_owner: 'octo-org' }, ceilings: CEILINGS },
    ],
  });
});
stopAndScanAfterEach(() => ({ venice, issuer, broker }));

const pull = (pr: number, extra: Record<string, string> = {}, repository = 'octo-org/shop') =>
  issuer.sign(jobClaims(repository, '500', { ref: `refs/pull/${pr}/merge`, event_name: 'pull_request', ...extra }));

/** A key minted through the broker (so it has a lease): its id. */
async function minted(token: string, body: Record<string, unknown>): Promise<{ id: string }> {
  const answer = await call(broker, 'POST', '/v1/keys', { token, body });
  expect(answer.status).toBe(201);
  return { id: answer.json.id as string };
}

test('the default operations are mint, use and delete: the lifecycle is refused, naming what the rule allows', async () => {
  const token = await issuer.sign(jobClaims('octo-org/web', '500'));
  for (const [method, path, body] of [
    ['POST', '/v1/keys/revoke', {}],
    ['GET', '/v1/keys', undefined],
    ['POST', '/v1/keys/sweep', { ids: [] }],
    ['POST', '/v1/keys', { scope: 'pr', rotate: true }],
  ] as const) {
    const answer = await call(broker, method, path, { token, body });
    expect(answer.status, path).toBe(403);
    expect(answer.json.error).toMatch(/^rule "defaults" does not allow (revoke|sweep|rotate) \(it allows mint, use, delete\)\.$/);
  }
  // And a rule without use, delete: its callers cannot open a handle or delete a key.
  const pulls = await pull(7);
  expect((await call(broker, 'POST', '/v1/keys/unwrap', { token: pulls, body: { handle: 'vek1.x' } })).json.error).toMatch(
    /does not allow use/,
  );
  expect((await call(broker, 'DELETE', `/v1/keys/${randomUUID()}`, { token: pulls })).json.error).toMatch(/does not allow delete/);
  expect(venice.requests).toEqual([]);
});

test('revoke takes the PR from the token; another in the body is refused; only a pull_request token may name one', async () => {
  const ofPr = await minted(await pull(7), { scope: 'pr', slot: 'web' });
  const otherRepository = await minted(await pull(7, {}, 'octo-org/web'), { scope: 'pr', slot: 'web' });
  // A key Venice has that the broker never handed out (the direct path's): never the broker's to revoke.
  const direct = addOwnedKey(venice, { pr: 7, scope: 'pr', slot: 'web' });
  const mismatch = await call(broker, 'POST', '/v1/keys/revoke', { token: await pull(7), body: { 'pr-number': 8 } });
  expect(mismatch.status).toBe(403);
  expect(broker.audit.at(-1)?.reason).toBe("field pr-number differs from the pull request the token's ref names.");
  for (const asked of ['x', 0, 1_000_000_000]) {
    expect((await call(broker, 'POST', '/v1/keys/revoke', { token: await pull(7), body: { 'pr-number': asked } })).status).toBe(400);
  }
  expect((await call(broker, 'POST', '/v1/keys/revoke', { token: await pull(7), body: [] })).status).toBe(400);
  // A push's token names no PR, and may not name one.
  const push = await issuer.sign(jobClaims('octo-org/shop', '500', { ref: 'refs/heads/main', event_name: 'pull_request_target' }));
  const target = await call(broker, 'POST', '/v1/keys/revoke', { token: push, body: { 'pr-number': 7 } });
  expect(target.status).toBe(403);
  expect(target.json.error).toMatch(/^revoke needs the token of a pull_request run/);
  // The PR may be sent as a string too, the dry run as the inputs write it.
  const dry = await call(broker, 'POST', '/v1/keys/revoke', { token: await pull(7), body: { 'dry-run': 'true', 'pr-number': '7' } });
  expect(dry.json).toMatchObject({ pr: 7, dryRun: true, deletedIds: [] });
  expect((dry.json.keys as { id: string }[]).map((key) => key.id)).toEqual([ofPr.id]);
  const done = await call(broker, 'POST', '/v1/keys/revoke', { token: await pull(7), body: {} });
  expect(done.json).toMatchObject({ pr: 7, dryRun: false, deletedIds: [ofPr.id], spent: { usd: 0, diem: 0 }, unread: 0 });
  expect(
    venice
      .liveKeys()
      .map((key) => key.id)
      .sort(),
  ).toEqual([otherRepository.id, direct.id].sort());
  // The lease's end is its own audit line, naming the lease's rule and why.
  expect(broker.audit.filter((line) => line.leaseEnded === 'revoke')).toEqual([
    expect.objectContaining({ action: 'revoke', keyId: ofPr.id, rule: 'pulls', reason: 'PR #7 revoked' }),
  ]);
});

test("sweep lists only the caller's keys (never a secret) and deletes only those of them named, never a kept key", async () => {
  const closed = await minted(await pull(1), { scope: 'pr', slot: 'web' });
  const kept = await minted(await pull(1), { 'skip-delete': true });
  const other = await minted(await pull(1, {}, 'octo-org/web'), { scope: 'pr', slot: 'web' });
  addOwnedKey(venice, { pr: 1, scope: 'pr', slot: 'web' }); // the direct path's: not listed, not swept
  const token = await pull(3);
  const listed = await call(broker, 'GET', '/v1/keys', { token });
  expect((listed.json.keys as { id: string }[]).map((key) => key.id).sort()).toEqual([closed.id, kept.id].sort());
  expect(listed.text).not.toMatch(/apiKey|VENICE_INFERENCE_KEY_/);
  for (const body of [{}, { ids: 'x' }, { ids: ['not an id'] }, { ids: ['../x'] }]) {
    expect((await call(broker, 'POST', '/v1/keys/sweep', { token, body })).status).toBe(400);
  }
  const swept = await call(broker, 'POST', '/v1/keys/sweep', { token, body: { ids: [closed.id, kept.id, other.id] } });
  expect(swept.json).toMatchObject({ dryRun: false, deletedIds: [closed.id], refused: 2 });
  expect(
    venice
      .liveKeys()
      .map((key) => key.id)
      .sort(),
  ).toEqual(expect.arrayContaining([kept.id, other.id]));
  expect(venice.liveKeys().map((key) => key.id)).not.toContain(closed.id);
});

test('rotate goes only with a preview key; the answer says which older keys went', async () => {
  const token = await pull(7);
  const notPreview = await call(broker, 'POST', '/v1/keys', { token, body: { rotate: true } });
  expect(notPreview.status).toBe(400);
  expect(notPreview.json.error).toBe('rotate is only for preview keys: send "scope": "pr" with it.');
  // Older by hand-out: the keys of the slot handed out before this one go; another slot's stays.
  const first = await minted(token, { scope: 'pr', slot: 'web' });
  const api = await minted(await pull(7), { scope: 'pr', slot: 'api' });
  const second = await call(broker, 'POST', '/v1/keys', { token: await pull(7), body: { scope: 'pr', slot: 'web', rotate: 'true' } });
  expect(second.json).toMatchObject({ rotateFailed: false, rotated: [first.id] });
  expect(venice.liveKeys().map((key) => key.id)).toEqual(expect.arrayContaining([api.id, second.json.id]));
  expect(broker.audit.filter((line) => line.leaseEnded === 'rotate')).toEqual([
    expect.objectContaining({ action: 'rotate', keyId: first.id, rule: 'pulls' }),
  ]);
  // When the older key's deletion fails, the new key is still handed over, and the answer says so.
  venice.inject('get', { kind: 'status', status: 403 }, 3);
  venice.inject('delete', { kind: 'status', status: 403 }, 3);
  const third = await call(broker, 'POST', '/v1/keys', { token: await pull(7), body: { scope: 'pr', slot: 'web', rotate: true } });
  expect(third.status).toBe(201);
  expect(third.json).toMatchObject({ rotated: [], rotateFailed: true });
  expect(broker.logs.join('\n')).toMatch(/could not rotate out the older keys/);
});
