// The preview lifecycle with no admin key in the workflow: every step runs the committed dist/ as the
// runner does, against the broker as its own process, whose rules allow rotate, revoke and sweep.
// Next to keys that must survive (other slots, PRs and repositories, a kept key, hand-made look-alikes):
// rotate in slot web deletes only that PR's older web key; revoke on a merged PR's close deletes every
// key of that PR and nothing else; sweep deletes keys of closed PRs and completed runs, carries on past
// what GitHub cannot answer, and a dry run deletes nothing.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { AUDIENCE, expectCleanAudit, leasedKey, spawnBroker, type TestBroker } from '../../broker/test/support/broker-bed.ts';
import { events } from '../../fakes/github-server.ts';
import { jobClaims, OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { runJob, runStep } from '../../fakes/runner.ts';
import { expectNotShown } from '../../testkit/leaks.ts';
import { addKeysThatMustSurvive, addOwnedKey, REPOSITORY, RUN_ID } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed({ github: true });
let issuer: OidcIssuer;
let broker: TestBroker;
const requestTokens: string[] = [];

const CEILINGS = { usd: 5, diem: 5, 'max-expiry': '7d', 'live-keys': 100 };
beforeEach(async () => {
  issuer = await new OidcIssuer(AUDIENCE).start();
  broker = await spawnBroker({
    venice: bed.venice,
    issuer,
    rules: [
      {
        name: 'previews',
        match: { repository_owner: 'octo-org', event_name: 'pull_request' },
        operations: ['mint', 'use', 'delete', 'rotate', 'revoke'],
        'allow-skip-delete': true,
        ceilings: CEILINGS,
      },
      { name: 'nightly-sweep', match: { repository_owner: 'octo-org', event_name: 'schedule' }, operations: ['sweep'], ceilings: CEILINGS },
    ],
  });
});
afterEach(async () => {
  await broker.stop();
  expectCleanAudit(broker, bed.venice, issuer, requestTokens);
  expectNotShown([...issuer.tokensIssued, ...requestTokens]);
  await issuer.stop();
});

/** No admin key anywhere: the broker's address and audience instead. */
const inputs = (extra: Record<string, string>) => ({
  'broker-url': broker.url,
  'broker-audience': AUDIENCE,
  'api-url': bed.venice.apiUrl,
  ...extra,
});

/** The runner's ID-token variables for a job whose token carries `claims`. */
function jobEnv(claims: Record<string, string>): Record<string, string> {
  const env = { ...bed.env, ...issuer.jobEnv(jobClaims(REPOSITORY, RUN_ID, claims)) };
  requestTokens.push(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN as string);
  return env;
}

/** A key minted through the broker (so it has a lease). */
const leased = (fields: Parameters<typeof leasedKey>[1]) => leasedKey({ broker, issuer }, fields);

const live = (): string[] =>
  bed.venice
    .liveKeys()
    .map((key) => key.id)
    .sort();

test('rotate in slot web deletes only the older web preview key of that PR', async () => {
  bed.github.setPull(REPOSITORY, 7, 'open');
  // The older web key first (handed out before the step's), then the keys that must survive it.
  const olderWeb = await leased({ pr: 7, body: { scope: 'pr', slot: 'web' } });
  const survivors = [
    ...addKeysThatMustSurvive(bed.venice, 7),
    addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'web' }), // the direct path's: not the broker's to rotate
    await leased({ pr: 7, body: { scope: 'pr', slot: 'api' } }),
    await leased({ pr: 7 }),
    await leased({ pr: 8, body: { scope: 'pr', slot: 'web' } }),
    await leased({ repository: 'octo-org/web', pr: 7, body: { scope: 'pr', slot: 'web' } }),
  ];
  const before = bed.venice.minted.length;
  const { main, post } = await runJob({
    inputs: inputs({ scope: 'pr', slot: 'web', rotate: 'true', 'expires-in': '3d' }),
    env: jobEnv({ ref: 'refs/pull/7/merge', event_name: 'pull_request' }),
    event: events.pullRequest(7),
  });
  expect(main.errors).toEqual([]);
  const minted = bed.venice.minted[before];
  expect(minted?.description).toMatch(/^vek:octo-org\/shop#7 pr:web r18234567890\.1 [0-9a-z]{6}$/);
  expect(main.stdout).toContain('Rotated out 1 older key(s) of PR #7 slot web through the broker.');
  expect(main.summary).toContain(olderWeb.id);
  expect(post.errors).toEqual([]);
  expect(live()).toEqual([...survivors.map((key) => key.id), minted?.id].sort());
});

test("revoke on a merged PR's close deletes every key of that PR through the broker, and nothing else", async () => {
  const survivors = [
    ...addKeysThatMustSurvive(bed.venice, 8),
    await leased({ pr: 8, body: { scope: 'pr', slot: 'web' } }),
    await leased({ repository: 'octo-org/web', pr: 7, body: { scope: 'pr', slot: 'web' } }),
  ];
  const ofPr = [
    await leased({ pr: 7, body: { scope: 'pr', slot: 'web' } }),
    await leased({ pr: 7, body: { scope: 'pr', slot: 'api' } }),
    await leased({ pr: 7, runId: '77', body: { 'skip-delete': true } }),
  ];
  // A merged PR's closing run: its token's ref is the base branch, so the PR comes from the event.
  const env = jobEnv({ ref: 'refs/heads/main', event_name: 'pull_request' });
  const dry = await runStep('main', { inputs: inputs({ mode: 'revoke', 'dry-run': 'true' }), env, event: events.pullRequestClosed(7) });
  expect(dry.errors).toEqual([]);
  expect(dry.outputs['deleted-count']).toBe('0');
  expect(live()).toHaveLength(survivors.length + ofPr.length);
  const revoke = await runStep('main', { inputs: inputs({ mode: 'revoke' }), env, event: events.pullRequestClosed(7) });
  expect(revoke.errors).toEqual([]);
  expect(revoke.outputs['deleted-count']).toBe('3');
  expect(revoke.outputs['deleted-ids']?.split(',').sort()).toEqual(ofPr.map((key) => key.id).sort());
  expect(revoke.outputs['spent-usd']).toBe('0');
  expect(live()).toEqual(survivors.map((key) => key.id).sort());
});

test('sweep deletes keys of closed PRs and completed runs, carries on past what GitHub cannot answer; a dry run deletes nothing', async () => {
  const { venice, github } = bed;
  github.setPull(REPOSITORY, 1, 'closed');
  github.setPull(REPOSITORY, 3, 'open');
  github.setRun(REPOSITORY, '501', 'completed');
  github.setRun(REPOSITORY, '502', 'in_progress');
  github.failPath.set(`/repos/${REPOSITORY}/pulls/4`, 500);
  // Keys of PR 3's runs 501 and 502 (a job key's tag names its PR and its run: sweep asks about the run).
  const gone = [await leased({ pr: 1, body: { scope: 'pr', slot: 'web' } }), await leased({ pr: 3, runId: '501' })];
  const kept = [
    ...addKeysThatMustSurvive(venice, 1),
    await leased({ pr: 3, body: { scope: 'pr' } }),
    await leased({ pr: 3, runId: '502' }),
    await leased({ pr: 3, runId: '501', body: { 'skip-delete': true } }),
    await leased({ pr: 4, body: { scope: 'pr' } }), // GitHub answers 500 about PR #4
  ];
  const env = jobEnv({ ref: 'refs/heads/main', event_name: 'schedule' });
  const dry = await runStep('main', { inputs: inputs({ mode: 'sweep', 'dry-run': 'true' }), env, event: events.schedule() });
  expect(dry.outputs['deleted-count']).toBe('0');
  expect(live()).toHaveLength(gone.length + kept.length);
  const sweep = await runStep('main', { inputs: inputs({ mode: 'sweep' }), env, event: events.schedule() });
  expect(sweep.exitCode).toBe(0);
  expect(sweep.outputs['deleted-ids']?.split(',').sort()).toEqual(gone.map((key) => key.id).sort());
  expect(sweep.warnings.join('\n')).toMatch(/GitHub could not answer about 1 pull request\(s\) or run\(s\)/);
  expect(live()).toEqual(kept.map((key) => key.id).sort());
});
