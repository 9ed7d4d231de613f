// Through the broker, a caller touches only its own repository's keys: another repository can neither
// delete nor unwrap them, a job or run key is deleted only from its own run, and keys the action does
// not own (hand-made look-alikes, admin and never-expiring keys) are never deleted whatever their id.
import { randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { addKeysThatMustSurvive, REPOSITORY } from '../../testkit/seed-keys.ts';
import { call, useBrokerBed } from './support/broker-bed.ts';

const bed = useBrokerBed({
  rules: [{ name: 'octo-org', match: { repository_owner: 'octo-org' }, ceilings: { scopes: ['job', 'run', 'pr'] } }],
});

const tokenFor = (repository: string, runId: string, extra: Record<string, string> = {}) =>
  bed.issuer.sign(jobClaims(repository, runId, extra));

async function mint(token: string, body: Record<string, string> = {}) {
  const answer = await call(bed.broker, 'POST', '/v1/keys', { token, body });
  expect(answer.status).toBe(201);
  return answer.json as { id: string; apiKey: string; handle?: string; description: string };
}

test('another repository can neither delete nor unwrap a key, and the key lives on', async () => {
  const shop = await tokenFor(REPOSITORY, '500');
  const job = await mint(shop);
  const run = await mint(shop, { scope: 'run' });
  const stranger = await tokenFor('octo-org/other', '500'); // same run id, same owner, another repository
  const deleted = await call(bed.broker, 'DELETE', `/v1/keys/${job.id}`, { token: stranger });
  expect(deleted.status).toBe(403);
  expect(deleted.json.error).toBe(
    `key ${job.id} was not handed out to octo-org/other by this broker (it has no lease); it was not deleted.`,
  );
  const unwrapped = await call(bed.broker, 'POST', '/v1/keys/unwrap', { token: stranger, body: { handle: run.handle } });
  expect(unwrapped.status).toBe(403);
  expect(unwrapped.json.error).toMatch(/key-handle was made in another repository, not octo-org\/other/);
  expect(unwrapped.text).not.toContain(run.apiKey);
  expect(
    bed.venice
      .liveKeys()
      .map((key) => key.id)
      .sort(),
  ).toEqual([job.id, run.id].sort());
  expect(bed.venice.count('delete')).toBe(0);
});

test('a job key is deleted only from the run that minted it; a preview key from any run of its repository', async () => {
  const job = await mint(await tokenFor(REPOSITORY, '500'));
  const laterRun = await tokenFor(REPOSITORY, '501');
  const refused = await call(bed.broker, 'DELETE', `/v1/keys/${job.id}`, { token: laterRun });
  expect(refused.status).toBe(403);
  expect(refused.json.error).toBe(`key ${job.id} belongs to run 500, and a job key may only be deleted from the run that minted it.`);
  expect(bed.venice.liveKeys().map((key) => key.id)).toEqual([job.id]);
  const own = await call(bed.broker, 'DELETE', `/v1/keys/${job.id}`, { token: await tokenFor(REPOSITORY, '500') });
  expect(own.json).toMatchObject({ keyId: job.id, outcome: 'deleted', spent: { usd: 0, diem: 0 } });

  const preview = await mint(await tokenFor(REPOSITORY, '600', { ref: 'refs/pull/7/merge', event_name: 'pull_request' }), { scope: 'pr' });
  expect(preview.description).toMatch(/vek:octo-org\/shop#7 pr:default r600\.1 [0-9a-z]{6}$/);
  expect((await call(bed.broker, 'DELETE', `/v1/keys/${preview.id}`, { token: laterRun })).json.outcome).toBe('deleted');
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('a run key is unwrapped for the jobs of its run only', async () => {
  const minted = await mint(await tokenFor(REPOSITORY, '500'), { scope: 'run' });
  const sameRun = await call(bed.broker, 'POST', '/v1/keys/unwrap', {
    token: await tokenFor(REPOSITORY, '500'),
    body: { handle: minted.handle },
  });
  expect(sameRun.status).toBe(200);
  expect(sameRun.json).toMatchObject({ id: minted.id, apiKey: minted.apiKey });
  const otherRun = await call(bed.broker, 'POST', '/v1/keys/unwrap', {
    token: await tokenFor(REPOSITORY, '501'),
    body: { handle: minted.handle },
  });
  expect(otherRun.status).toBe(403);
  expect(otherRun.json.error).toMatch(/key-handle was made in run 500, and this is run 501/);
  const tampered = `${minted.handle?.slice(0, -4)}AAAA`;
  expect(
    (await call(bed.broker, 'POST', '/v1/keys/unwrap', { token: await tokenFor(REPOSITORY, '500'), body: { handle: tampered } })).status,
  ).toBe(403);
  const otherRunDelete = await call(bed.broker, 'DELETE', `/v1/keys/${minted.id}`, { token: await tokenFor(REPOSITORY, '501') });
  expect(otherRunDelete.status).toBe(403);
  expect(bed.broker.audit.map((line) => `${line.action} ${line.status}`)).toEqual([
    'mint 201',
    'unwrap 200',
    'unwrap 403',
    'unwrap 403',
    'delete 403',
  ]);
});

test('keys the action does not own are never deleted, whatever id is asked for; a gone key is already-gone', async () => {
  const survivors = addKeysThatMustSurvive(bed.venice);
  const token = await tokenFor(REPOSITORY, '100');
  for (const key of survivors) {
    const answer = await call(bed.broker, 'DELETE', `/v1/keys/${key.id}`, { token });
    expect(answer.status, key.description).toBe(403);
  }
  expect(bed.venice.count('delete')).toBe(0);
  // Decided from the listing: no per-id read, so no failed admin request at Venice.
  expect(bed.venice.count('get')).toBe(0);
  expect(bed.venice.failedRequests()).toBe(0);
  expect(bed.venice.liveKeys()).toHaveLength(survivors.length);
  const unknown = randomUUID();
  const gone = await call(bed.broker, 'DELETE', `/v1/keys/${unknown}`, { token });
  expect(gone.json).toEqual({ keyId: unknown, outcome: 'already-gone' });
  expect(bed.venice.failedRequests()).toBe(0);
});
