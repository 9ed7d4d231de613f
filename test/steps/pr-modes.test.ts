// The PR modes in-process (coverage sees them), with their error paths; test/pr runs them as the bundle.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { addPrKey, REPOSITORY } from '../pr/pr-bed.ts';
import { GitHubServer } from '../support/github-server.ts';
import { mainInProcess } from '../support/in-process.ts';
import { VeniceServer } from '../support/venice-server.ts';

let venice: VeniceServer;
let github: GitHubServer;
let env: Record<string, string>;
let inputs: Record<string, string>;
beforeEach(async () => {
  venice = await new VeniceServer().start();
  github = await new GitHubServer().start();
  env = { GITHUB_API_URL: github.url };
  inputs = { 'admin-key': venice.adminKey, 'api-url': venice.apiUrl, timeout: '4s' };
});
afterEach(async () => {
  await venice.stop();
  await github.stop();
});

test('mint for an open PR tags the key with it; for a closed PR mints nothing', async () => {
  github.setPull(REPOSITORY, 7, 'open');
  github.setPull(REPOSITORY, 8, 'closed');
  const open = await mainInProcess({ inputs: { ...inputs, 'pr-number': '7' }, env });
  expect(open.outputs.description).toContain('vek:octo-org/shop#7 ');
  const closed = await mainInProcess({ inputs: { ...inputs, 'pr-number': '8' }, env });
  expect(closed.exitCode).toBe(0);
  expect(closed.stdout).toContain('PR #8 is closed: no key minted');
  expect(venice.minted).toHaveLength(1);
});

test('rotate falls back to run order when Venice gives no creation dates', async () => {
  github.setPull(REPOSITORY, 7, 'open');
  const older = addPrKey(venice, REPOSITORY, 7, '1');
  const newer = addPrKey(venice, REPOSITORY, 7, '99999999999');
  const earlierAttempt = addPrKey(venice, REPOSITORY, 7, '18234567890');
  const sameRunLater = venice.addKey({ ...addPrKey(venice, REPOSITORY, 7, '18234567890'), id: 'later-attempt' });
  sameRunLater.description = sameRunLater.description.replace('r18234567890.1', 'r18234567890.3');
  for (const key of [older, newer, earlierAttempt, sameRunLater]) (key as { createdAt: string | null }).createdAt = null;
  const main = await mainInProcess({
    inputs: { ...inputs, 'pr-number': '7', rotate: 'true', 'skip-delete': 'true' },
    env: { ...env, GITHUB_RUN_ATTEMPT: '2' },
  });
  expect(main.exitCode).toBe(0);
  const live = venice.liveKeys().map((k) => k.id);
  expect(live).not.toContain(older.id);
  expect(live).not.toContain(earlierAttempt.id);
  expect(live).toEqual(expect.arrayContaining([newer.id, 'later-attempt', main.outputs['key-id']]));
});

test('rotate without a PR warns; GitHub unreachable for a PR mint warns and mints', async () => {
  const noPr = await mainInProcess({ inputs: { ...inputs, rotate: 'true' }, env });
  expect(noPr.warnings).toEqual([expect.stringContaining('rotate is true but this run has no pull request')]);
  await github.stop();
  const unreachable = await mainInProcess({ inputs: { ...inputs, 'pr-number': '7' }, env });
  expect(unreachable.exitCode).toBe(0);
  expect(unreachable.warnings).toEqual([
    expect.stringMatching(/could not ask GitHub about octo-org\/shop PR #7: .*Minting the key anyway/),
  ]);
  github = await new GitHubServer().start();
});

test('dry runs of revoke and sweep delete nothing', async () => {
  github.setPull(REPOSITORY, 4, 'closed');
  addPrKey(venice, REPOSITORY, 4);
  const revoke = await mainInProcess({ inputs: { ...inputs, mode: 'revoke', 'pr-number': '4', 'dry-run': 'true' }, env });
  const sweep = await mainInProcess({ inputs: { ...inputs, mode: 'sweep', 'dry-run': 'true' }, env });
  expect(revoke.stdout).toContain('Dry run: nothing was deleted.');
  expect(sweep.outputs['deleted-count']).toBe('0');
  expect(venice.count('delete')).toBe(0);
});

test('a rotation that fails is a warning; the new key stands', async () => {
  github.setPull(REPOSITORY, 7, 'open');
  venice.inject('list', { kind: 'status', status: 403 });
  const main = await mainInProcess({ inputs: { ...inputs, 'pr-number': '7', rotate: 'true' }, env });
  expect(main.exitCode).toBe(0);
  expect(main.warnings).toEqual([expect.stringContaining('could not delete the older keys of PR #7')]);
  expect(main.outputs['key-id']).toBeDefined();
});

test("revoke: deletes one PR's keys; a delete that fails fails the step and names the key", async () => {
  const keys = [addPrKey(venice, REPOSITORY, 5, '1'), addPrKey(venice, REPOSITORY, 5, '2')];
  venice.inject('delete', { kind: 'status', status: 403 });
  const main = await mainInProcess({ inputs: { ...inputs, mode: 'revoke', 'pr-number': '5' }, env });
  expect(main.exitCode).toBe(1);
  expect(main.errors[0]).toMatch(/deleted 1 of 2 key\(s\); could not delete .*Venice forbade deleting the key \(403\)/);
  expect(venice.liveKeys()).toHaveLength(1);
  expect(keys.map((k) => k.id)).toContain(venice.liveKeys()[0]!.id);
});

test('revoke without a PR names the event and shows how to pass one', async () => {
  const main = await mainInProcess({ inputs: { ...inputs, mode: 'revoke' }, env: { ...env, GITHUB_EVENT_NAME: '' } });
  expect(main.errors[0]).toContain('this run event has none');
  const onPush = await mainInProcess({ inputs: { ...inputs, mode: 'revoke' }, env: { ...env, GITHUB_EVENT_NAME: 'push' } });
  expect(onPush.errors[0]).toContain('this push event has none');
  expect(main.errors[0]).toContain('pr-number: ${{ github.event.pull_request.number }}');
});

test('sweep: open kept, closed deleted; nothing to sweep is fine too', async () => {
  const empty = await mainInProcess({ inputs: { ...inputs, mode: 'sweep' }, env });
  expect(empty.outputs).toEqual({ 'deleted-count': '0', 'deleted-ids': '', 'kept-count': '0' });
  expect(empty.summary).toContain('_none_');
  github.setPull(REPOSITORY, 1, 'open');
  github.setPull(REPOSITORY, 2, 'merged');
  addPrKey(venice, REPOSITORY, 1);
  addPrKey(venice, REPOSITORY, undefined); // a per-run key: not a PR key
  addPrKey(venice, 'octo-org/other', 2); // another repository's
  venice.addKey({ description: 'hand-made' });
  const gone = addPrKey(venice, REPOSITORY, 2);
  const main = await mainInProcess({ inputs: { ...inputs, mode: 'sweep' }, env });
  expect(main.outputs).toEqual({ 'deleted-count': '1', 'deleted-ids': gone.id, 'kept-count': '1' });
});

test.each([
  [401, /github-token was refused \(401\)/],
  [403, /GitHub answered 403\. The token may lack read access to pull requests/],
  [500, /GitHub answered 500\./],
  ['no-state', /GitHub answered without a state for PR #2/],
] as const)('sweep stops before deleting anything when GitHub answers %s', async (failure, message) => {
  github.failWith = failure;
  addPrKey(venice, REPOSITORY, 2);
  const main = await mainInProcess({ inputs: { ...inputs, mode: 'sweep' }, env });
  expect(main.exitCode).toBe(1);
  expect(main.errors[0]).toMatch(message);
  expect(venice.count('delete')).toBe(0);
});

test('sweep without a github-token says what to pass', async () => {
  addPrKey(venice, REPOSITORY, 2);
  const main = await mainInProcess({ inputs: { ...inputs, mode: 'sweep', 'github-token': '' }, env });
  expect(main.errors[0]).toContain('github-token is empty');
  expect(github.requests).toEqual([]);
  expect(venice.count('delete')).toBe(0);
});
