// GitHub's webhook through the broker as its own process: a workflow_run `completed` delivery deletes
// that run's job and run keys, even when the job's post step never ran (the runner died), and a
// pull_request `closed` delivery deletes every key of that PR; next to them, keys that must survive
// (another repository's, another run's and PR's, a kept key, hand-made look-alikes) are untouched.
// Deliveries with no or a wrong signature, replays of a delivery id, and repositories outside the policy
// delete nothing; 100 deliveries in a burst are all handled without a single Venice 429.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { deliver, ping, pullRequestClosed, workflowRunCompleted } from '../../fakes/github-webhooks.ts';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { runStep } from '../../fakes/runner.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { expectNoLeaks } from '../../testkit/leaks.ts';
import { addKeysThatMustSurvive, addOwnedKey } from '../../testkit/seed-keys.ts';
import { AUDIENCE, call, DEFAULT_RULES, spawnBroker, startFakes, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

const SECRET = 'a-webhook-secret-for-tests-only';
let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;

beforeEach(async () => {
  ({ venice, issuer } = await startFakes());
  broker = await spawnBroker({
    venice,
    issuer,
    githubWebhook: { 'secret-env': 'GITHUB_WEBHOOK_SECRET' },
    webhookSecret: SECRET,
    // The default rules, with kept keys (skip-delete) allowed.
    rules: DEFAULT_RULES.map((rule) => ({ ...rule, 'allow-skip-delete': true })),
  });
});
stopAndScanAfterEach(() => ({ venice, issuer, broker }), [SECRET]);
afterEach(async () => {
  expectNoLeaks(venice);
});

/** Waits (bounded: 5 s) until `done` holds; the broker works after answering 202. */
async function within5s(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(done()).toBe(true);
}

const live = (): string[] => venice.liveKeys().map((key) => key.id);

/** A key minted through the broker (so it has a lease): by a push's job of `runId`, or a pull_request's of PR `pr`. */
async function leasedKey(repository: string, runId: string, body: Record<string, unknown> = {}, pr?: number): Promise<{ id: string }> {
  const claims: Record<string, string> = pr === undefined ? {} : { event_name: 'pull_request', ref: `refs/pull/${pr}/merge` };
  const answer = await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims(repository, runId, claims)), body });
  expect(answer.status).toBe(201);
  return { id: answer.json.id as string };
}

test('a run whose post step never ran has its key deleted within 5 s of the workflow_run completed delivery', async () => {
  const survivors = addKeysThatMustSurvive(venice);
  const otherRepository = await leasedKey('octo-org/web', '900');
  const otherRun = await leasedKey('octo-org/shop', '901', { scope: 'run' });
  const kept = await leasedKey('octo-org/shop', '900', { 'skip-delete': true });
  const direct = addOwnedKey(venice, { scope: 'job', runId: '900' }); // the direct path's key: not the broker's
  // The job's main step mints through the broker (the committed dist/); its runner then dies: no post.
  const main = await runStep('main', {
    inputs: { 'broker-url': broker.url, 'broker-audience': AUDIENCE, 'api-url': venice.apiUrl },
    env: { ...issuer.jobEnv(jobClaims('octo-org/shop', '900')), GITHUB_RUN_ID: '900' },
  });
  expect(main.errors).toEqual([]);
  const runKey = (
    await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', '900')), body: { scope: 'run' } })
  ).json.id as string;
  const minted = [main.outputs['key-id'] as string, runKey];
  expect(live()).toEqual(expect.arrayContaining(minted));

  const answer = await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '900'), { signWith: SECRET });
  expect(answer.status).toBe(202);
  await within5s(() => minted.every((id) => !live().includes(id)));
  expect(live().sort()).toEqual([...survivors.map((key) => key.id), otherRepository.id, otherRun.id, kept.id, direct.id].sort());
  await broker.stop();
  const deletions = broker.audit.filter((line) => line.action === 'webhook' && line.outcome === 'deleted');
  expect(deletions.map((line) => line.keyId).sort()).toEqual([...minted].sort());
  for (const line of deletions)
    expect(line).toMatchObject({ delivery: answer.delivery, webhookEvent: 'workflow_run', repository: 'octo-org/shop' });
});

test('a pull_request closed delivery deletes every key of that PR, and nothing else', async () => {
  const survivors = addKeysThatMustSurvive(venice, 8);
  const ofPr = [
    await leasedKey('octo-org/shop', '950', { scope: 'pr', slot: 'web' }, 7),
    await leasedKey('octo-org/shop', '950', { scope: 'pr', slot: 'api' }, 7),
    await leasedKey('octo-org/shop', '950', {}, 7),
  ];
  const otherPr = await leasedKey('octo-org/shop', '951', { scope: 'pr', slot: 'web' }, 8);
  const answer = await deliver(broker.url, 'pull_request', pullRequestClosed('octo-org/shop', 7), { signWith: SECRET });
  expect(answer.status).toBe(202);
  await within5s(() => ofPr.every((key) => !live().includes(key.id)));
  expect(live().sort()).toEqual([...survivors.map((key) => key.id), otherPr.id].sort());
});

test('no or a wrong signature is 401 and deletes nothing; a replay acts once; a repository outside the policy is ignored; ping is 200', async () => {
  const key = await leasedKey('octo-org/shop', '960');
  const payload = workflowRunCompleted('octo-org/shop', '960');
  expect((await deliver(broker.url, 'workflow_run', payload)).status).toBe(401);
  expect((await deliver(broker.url, 'workflow_run', payload, { signWith: 'not-the-secret-at-all' })).status).toBe(401);
  expect((await deliver(broker.url, 'ping', ping('octo-org/shop'), { signWith: SECRET })).status).toBe(200);
  // A stranger's repository (no rule admits it) with a key of the same run id: left alone, said in the audit.
  const strangers = addOwnedKey(venice, { repository: 'evil-corp/shop', scope: 'job', runId: '960' });
  const outside = await deliver(broker.url, 'workflow_run', workflowRunCompleted('evil-corp/shop', '960'), { signWith: SECRET });
  expect(outside).toMatchObject({ status: 202, json: { ignored: true } });
  expect(live()).toEqual(expect.arrayContaining([key.id, strangers.id]));
  // The real delivery, then its redelivery (same GUID): deleted once; the replay does nothing.
  const first = await deliver(broker.url, 'workflow_run', payload, { signWith: SECRET });
  await within5s(() => !live().includes(key.id));
  const replay = await deliver(broker.url, 'workflow_run', payload, { signWith: SECRET, delivery: first.delivery });
  expect(replay).toMatchObject({ status: 200, json: { duplicate: true } });
  expect(venice.count('delete')).toBe(1);
  expect(venice.failedRequests()).toBe(0);
  await broker.stop();
  // The two unsigned deliveries (401, counted with the refusals before a rule), the stranger's, the deletion.
  expect(broker.audit.filter((line) => line.action === 'webhook').map((line) => `${line.status} ${line.outcome}`)).toEqual([
    '401 refused',
    '401 refused',
    '202 refused',
    '200 deleted',
  ]);
});

test('100 deliveries in a burst are all handled, with no Venice 429 and no failed request', async () => {
  // 18 keys (Venice's window allows 20 creates a minute), each run's completion sent five or six times
  // over (redeliveries with their own GUIDs, as a person re-sending would make), side by side.
  const keys: { id: string }[] = [];
  for (let i = 0; i < 18; i++) keys.push(await leasedKey('octo-org/shop', String(2000 + i)));
  const deliveries = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', String(2000 + (i % 18))), { signWith: SECRET }),
    ),
  );
  expect(deliveries.every((answer) => answer.status === 202)).toBe(true);
  await within5s(() => keys.every((key) => !live().includes(key.id)));
  expect(venice.requests.filter((request) => request.status === 429)).toEqual([]);
  expect(venice.failedRequests()).toBe(0);
  expect(venice.count('delete')).toBe(18); // a key that just went away is not deleted again
});
