// The README's workflow recipes, run as written (test/support/recipe-runner.ts): what each promises about
// keys holds when its action steps run through the runner harness against the test servers.
import { expect, test } from 'vitest';
import { AUDIENCE, startTestBroker } from '../../broker/test/support/broker-bed.ts';
import { events } from '../../fakes/github-server.ts';
import { jobClaims, OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { expectNotShown } from '../../testkit/leaks.ts';
import { addOwnedKey, REPOSITORY, RUN_ID } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';
import { readmeWorkflows } from '../support/readme.ts';
import { parseRecipe, runRecipe, type Workflow } from '../support/recipe-runner.ts';

const bed = useTestBed({ github: true });
const recipe = (name: string): Workflow => parseRecipe(readmeWorkflows().find((w) => w.name === name)!.text);
const given = (event: Parameters<typeof runRecipe>[1]['event'], inputs?: Record<string, string>) => ({
  adminKey: bed.venice.adminKey,
  apiUrl: bed.venice.apiUrl,
  env: bed.env,
  event,
  ...(inputs ? { inputs } : {}),
});

test('uses-venice: one key for the job, verified, deleted by its post step', async () => {
  const run = await runRecipe(recipe('uses-venice'), given(events.push()));
  expect(run.steps.map((s) => [s.main.exitCode, s.post.exitCode])).toEqual([[0, 0]]);
  expect(bed.venice.minted[0]!.consumptionLimit).toEqual({ usd: 2, diem: 0 });
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('run-key: one create for the mint job and every matrix leg, revoked by the last job with its spend', async () => {
  const run = await runRecipe(recipe('run-key'), given(events.push()));
  expect(run.steps.map((s) => s.job).sort()).toEqual(['evals[chat]', 'evals[embeddings]', 'evals[images]', 'mint', 'revoke']);
  expect(run.steps.at(-1)!.job).toBe('revoke');
  expect(run.steps.every((s) => s.main.exitCode === 0 && s.post.exitCode === 0)).toBe(true);
  expect(bed.venice.count('create')).toBe(1);
  const legs = run.steps.filter((s) => s.job.startsWith('evals'));
  expect(new Set(legs.map((s) => s.main.env.VENICE_API_KEY))).toEqual(new Set([bed.venice.minted[0]!.apiKey]));
  const revoke = run.steps.find((s) => s.job === 'revoke')!;
  expect(revoke.main.outputs).toMatchObject({ 'deleted-count': '1', 'spent-usd': '0' });
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('reusable-evals: a called workflow uses the caller\u2019s run key through its key-handle input', async () => {
  const caller = await runRecipe({ name: 'caller', on: 'push', jobs: { mint: recipe('run-key').jobs.mint! } }, given(events.push()));
  const handle = caller.outputs.mint!['key-handle']!;
  const called = await runRecipe(recipe('reusable-evals'), given(events.push(), { 'key-handle': handle }));
  expect(called.steps[0]!.main.exitCode).toBe(0);
  expect(called.steps[0]!.main.env.VENICE_API_KEY).toBe(bed.venice.minted[0]!.apiKey);
  expect(bed.venice.count('create')).toBe(1);
});

test('preview, then preview-teardown: a rotated key per push while the PR is open, none after it closes', async () => {
  bed.github.setPull(REPOSITORY, 7, 'open');
  const ciKey = addOwnedKey(bed.venice, { pr: 7, scope: 'job', runId: '18234567890' }); // a CI job of the same PR
  const first = await runRecipe(recipe('preview'), given(events.pullRequest(7, 'opened')));
  const second = await runRecipe(recipe('preview'), { ...given(events.pullRequest(7)), env: { ...bed.env, GITHUB_RUN_ID: '18234567999' } });
  for (const run of [first, second]) expect(run.steps[0]!.main.exitCode).toBe(0);
  const live = bed.venice.liveKeys().map((key) => key.id);
  expect(live).toEqual(expect.arrayContaining([ciKey.id, second.steps[0]!.main.outputs['key-id']!]));
  expect(live).toHaveLength(2); // the first push's preview key was rotated out; the CI job's key stayed
  bed.github.setPull(REPOSITORY, 7, 'merged');
  const teardown = await runRecipe(recipe('preview-teardown'), given(events.pullRequestClosed(7)));
  expect(teardown.steps[0]!.main.outputs['deleted-count']).toBe('2');
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('venice-key-sweep: keys of closed PRs and completed runs go, the rest stay', async () => {
  bed.github.setPull(REPOSITORY, 3, 'closed');
  bed.github.setRun(REPOSITORY, '900', 'completed');
  bed.github.setRun(REPOSITORY, '901', 'in_progress');
  const gone = [addOwnedKey(bed.venice, { pr: 3, scope: 'pr' }), addOwnedKey(bed.venice, { scope: 'run', runId: '900' })];
  const kept = addOwnedKey(bed.venice, { scope: 'job', runId: '901' });
  const run = await runRecipe(recipe('venice-key-sweep'), given(events.schedule()));
  expect(run.steps[0]!.main.outputs['deleted-ids']!.split(',').sort()).toEqual(gone.map((key) => key.id).sort());
  expect(bed.venice.liveKeys().map((key) => key.id)).toEqual([kept.id]);
});

test('broker-evals: no admin key in the workflow; the broker mints within its policy and post deletes through it', async () => {
  const issuer = await new OidcIssuer(AUDIENCE).start();
  const broker = await startTestBroker({ venice: bed.venice, issuer });
  try {
    const env = { ...bed.env, ...issuer.jobEnv(jobClaims(REPOSITORY, RUN_ID)) };
    const run = await runRecipe(recipe('broker-evals'), {
      ...given(events.push()),
      adminKey: '',
      env,
      vars: { VENICE_BROKER_URL: broker.url },
    });
    expect(run.steps.map((s) => [s.main.exitCode, s.post.exitCode])).toEqual([[0, 0]]);
    expect(bed.venice.minted[0]!.consumptionLimit).toEqual({ usd: 2, diem: 0 });
    expect(bed.venice.liveKeys()).toEqual([]);
    expect(broker.audit.map((line) => `${line.action} ${line.outcome}`)).toEqual(['mint granted', 'delete deleted']);
    expectNotShown(issuer.tokensIssued);
  } finally {
    await broker.stop();
    await issuer.stop();
  }
});

test('preview-through-broker, then its teardown: rotated per push, revoked on close, with no admin key in either workflow', async () => {
  const issuer = await new OidcIssuer(AUDIENCE).start();
  const ceilings = { usd: 1, diem: 0, 'max-expiry': '3d', 'live-keys': 10, scopes: ['pr'] };
  const broker = await startTestBroker({
    venice: bed.venice,
    issuer,
    rules: [
      {
        name: 'previews',
        match: { repository: REPOSITORY, event_name: 'pull_request' },
        operations: ['mint', 'use', 'delete', 'rotate', 'revoke'],
        ceilings,
      },
    ],
  });
  try {
    bed.github.setPull(REPOSITORY, 7, 'open');
    const through = (event: Parameters<typeof runRecipe>[1]['event'], ref: string, runId: string) => ({
      ...given(event),
      adminKey: '',
      env: { ...bed.env, GITHUB_RUN_ID: runId, ...issuer.jobEnv(jobClaims(REPOSITORY, runId, { ref, event_name: 'pull_request' })) },
      vars: { VENICE_BROKER_URL: broker.url },
    });
    const first = await runRecipe(recipe('preview-through-broker'), through(events.pullRequest(7, 'opened'), 'refs/pull/7/merge', '900'));
    const second = await runRecipe(recipe('preview-through-broker'), through(events.pullRequest(7), 'refs/pull/7/merge', '901'));
    expect([...first.steps, ...second.steps].map((s) => s.main.exitCode)).toEqual([0, 0]);
    expect(bed.venice.liveKeys()).toHaveLength(1); // the second push's key; the first was rotated out
    expect(bed.venice.liveKeys()[0]?.description).toMatch(/ pr:web r901\.1 /);
    // The merged PR's closing run: its token's ref is the base branch; the PR comes from the event.
    const teardown = await runRecipe(
      recipe('preview-teardown-through-broker'),
      through(events.pullRequestClosed(7), 'refs/heads/main', '902'),
    );
    expect(teardown.steps.map((s) => s.main.outputs['deleted-count'])).toEqual(['1']);
    expect(bed.venice.liveKeys()).toEqual([]);
    // The requests, and each lease's end in a line of its own: the rotated key, the revoked one.
    expect(broker.audit.map((line) => `${line.action} ${line.outcome}${line.leaseEnded ? ' (lease ended)' : ''}`)).toEqual([
      'mint granted',
      'rotate deleted (lease ended)',
      'mint granted',
      'revoke deleted (lease ended)',
      'revoke deleted',
    ]);
    expectNotShown(issuer.tokensIssued);
  } finally {
    await broker.stop();
    await issuer.stop();
  }
});
