import { expect, test } from 'vitest';
import { events } from '../support/github-server.ts';
import { runJob, runStep, TEST_GITHUB_TOKEN } from '../support/runner.ts';
import { expectNoLeaks } from '../support/scenario.ts';
import { addPrKey, REPOSITORY, usePrBed } from './pr-bed.ts';

const bed = usePrBed();
const previewInputs = (): Record<string, string> => ({
  'admin-key': bed.venice.adminKey,
  'api-url': bed.venice.apiUrl,
  'skip-delete': 'true',
  'expires-in': '7d',
  rotate: 'true',
  description: 'preview',
});

test('two mints for PR 7 with rotate leave one key: the newest', async () => {
  const { venice, github, env } = bed;
  github.setPull(REPOSITORY, 7, 'open');
  const first = await runJob({ inputs: previewInputs(), env: { ...env, GITHUB_RUN_ID: '501' }, event: events.pullRequest(7, 'opened') });
  const second = await runJob({ inputs: previewInputs(), env: { ...env, GITHUB_RUN_ID: '502' }, event: events.pullRequest(7) });

  for (const step of [first.main, first.post, second.main, second.post]) expect(step.exitCode, step.stdout).toBe(0);
  expect(first.main.outputs.description).toMatch(/^preview vek:octo-org\/shop#7 r501\.1 [0-9a-z]{6}$/);
  expect(venice.liveKeys().map((key) => key.id)).toEqual([second.main.outputs['key-id']]);
  expect(second.main.stdout).toContain('Rotated out 1 older key(s) of PR #7.');
  expect(second.main.summary).toContain(first.main.outputs['key-id']);
  // GitHub was asked whether the PR is open, with the job's token.
  expect(github.requests.map((r) => r.path)).toEqual(['/repos/octo-org/shop/pulls/7', '/repos/octo-org/shop/pulls/7']);
  expect(github.requests[0]!.authorization).toBe(`token ${TEST_GITHUB_TOKEN}`);
  expectNoLeaks(venice, [first.main, first.post, second.main, second.post], [TEST_GITHUB_TOKEN]);
});

test('rotate keeps a newer key of the same PR, and every key of other PRs and repositories', async () => {
  const { venice, github, env } = bed;
  github.setPull(REPOSITORY, 7, 'open');
  const older = addPrKey(venice, REPOSITORY, 7, '400');
  const otherPr = addPrKey(venice, REPOSITORY, 8, '400');
  const otherRepo = addPrKey(venice, 'octo-org/other', 7, '400');
  const main = await runStep('main', { inputs: previewInputs(), env: { ...env, GITHUB_RUN_ID: '500' }, event: events.pullRequest(7) });
  expect(main.exitCode, main.stdout).toBe(0);
  const newer = addPrKey(venice, REPOSITORY, 7, '600');
  newer.createdAt = new Date(Date.now() + 60_000).toISOString();
  const rerun = await runStep('main', {
    inputs: previewInputs(),
    env: { ...env, GITHUB_RUN_ID: '500', GITHUB_RUN_ATTEMPT: '2' },
    event: events.pullRequest(7),
  });
  expect(rerun.exitCode).toBe(0);

  const live = venice.liveKeys().map((key) => key.id);
  expect(live).not.toContain(older.id);
  expect(live).not.toContain(main.outputs['key-id']);
  expect(live).toEqual(expect.arrayContaining([otherPr.id, otherRepo.id, newer.id, rerun.outputs['key-id']]));
  expect(live).toHaveLength(4);
});

test('a mint for a PR that is already merged mints nothing and succeeds', async () => {
  const { venice, github, env } = bed;
  github.setPull(REPOSITORY, 9, 'merged');
  const { main, post } = await runJob({ inputs: previewInputs(), env, event: events.pullRequest(9) });
  expect(main.exitCode).toBe(0);
  expect(main.stdout).toContain('PR #9 is merged: no key minted');
  expect(main.outputs).toEqual({});
  expect(main.summary).toContain('PR #9 is already merged');
  expect(venice.requests).toEqual([]);
  expect(post.exitCode).toBe(0);
  expect(venice.requests).toEqual([]);
});

test('pr-number overrides the event, and a PR from issue_comment works too', async () => {
  const { venice, github, env } = bed;
  github.setPull(REPOSITORY, 12, 'open');
  github.setPull(REPOSITORY, 13, 'open');
  const fromInput = await runStep('main', { inputs: { ...previewInputs(), 'pr-number': '12' }, env, event: events.push() });
  const fromComment = await runStep('main', { inputs: previewInputs(), env, event: events.issueCommentOnPr(13) });
  expect(fromInput.outputs.description).toContain('vek:octo-org/shop#12 ');
  expect(fromComment.outputs.description).toContain('vek:octo-org/shop#13 ');
  expect(venice.liveKeys()).toHaveLength(2);
});

test('when GitHub cannot be asked, the PR key is minted anyway with a warning', async () => {
  const { venice } = bed;
  const { main } = await runJob({ inputs: previewInputs(), env: { GITHUB_API_URL: 'http://127.0.0.1:9' }, event: events.pullRequest(7) });
  expect(main.exitCode).toBe(0);
  expect(main.warnings).toEqual([expect.stringMatching(/could not ask GitHub about octo-org\/shop PR #7: .*Minting the key anyway/)]);
  expect(venice.liveKeys()).toHaveLength(1);
});

test('rotate without a pull request mints the key and warns that nothing was rotated', async () => {
  const { venice, env } = bed;
  const { main } = await runJob({ inputs: previewInputs(), env, event: events.push() });
  expect(main.exitCode).toBe(0);
  expect(main.warnings).toEqual([expect.stringContaining('rotate is true but this run has no pull request')]);
  expect(venice.liveKeys()).toHaveLength(1);
});
