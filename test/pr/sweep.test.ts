import { expect, test } from 'vitest';
import { events } from '../support/github-server.ts';
import { runJob } from '../support/runner.ts';
import { expectNoLeaks } from '../support/scenario.ts';
import { addPrKey, REPOSITORY, usePrBed } from './pr-bed.ts';

const bed = usePrBed();
const sweepInputs = (extra: Record<string, string> = {}) => ({
  'admin-key': bed.venice.adminKey,
  'api-url': bed.venice.apiUrl,
  mode: 'sweep',
  ...extra,
});

test('sweep deletes keys of closed and merged PRs, keeps open PRs, and never touches other keys', async () => {
  const { venice, github, env } = bed;
  github.setPull(REPOSITORY, 1, 'open');
  github.setPull(REPOSITORY, 2, 'closed');
  github.setPull(REPOSITORY, 3, 'merged');
  const open = [addPrKey(venice, REPOSITORY, 1), addPrKey(venice, REPOSITORY, 1, '101')];
  const closed = [addPrKey(venice, REPOSITORY, 2), addPrKey(venice, REPOSITORY, 3), addPrKey(venice, REPOSITORY, 3, '102')];
  const untouched = [
    addPrKey(venice, 'octo-org/other', 2),
    addPrKey(venice, REPOSITORY, undefined),
    venice.addKey({ description: 'manual' }),
  ];

  const { main, post } = await runJob({ inputs: sweepInputs(), env, event: events.schedule() });
  expect(main.exitCode, main.stdout).toBe(0);
  expect(main.outputs['deleted-count']).toBe('3');
  expect(main.outputs['kept-count']).toBe('2');
  expect(main.outputs['deleted-ids']!.split(',').sort()).toEqual(closed.map((k) => k.id).sort());
  expect(
    venice
      .liveKeys()
      .map((k) => k.id)
      .sort(),
  ).toEqual([...open, ...untouched].map((k) => k.id).sort());
  // One question per PR, not per key.
  expect(github.requests.map((r) => r.path).sort()).toEqual([
    '/repos/octo-org/shop/pulls/1',
    '/repos/octo-org/shop/pulls/2',
    '/repos/octo-org/shop/pulls/3',
  ]);
  expect(main.summary).toContain('Kept: keys of open PRs');
  expect(main.summary).toContain('merged');
  expect(post.exitCode).toBe(0);
  expectNoLeaks(venice, [main, post]);
});

test('sweep deletes nothing when GitHub cannot be reached', async () => {
  const { venice } = bed;
  addPrKey(venice, REPOSITORY, 2);
  addPrKey(venice, REPOSITORY, 3);
  const { main } = await runJob({ inputs: sweepInputs(), env: { GITHUB_API_URL: 'http://127.0.0.1:9' }, event: events.schedule() });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([expect.stringMatching(/could not ask GitHub about octo-org\/shop PR #\d/)]);
  expect(venice.count('delete')).toBe(0);
  expect(venice.liveKeys()).toHaveLength(2);
});

test('sweep deletes nothing when GitHub answers for some PRs but not others', async () => {
  const { venice, github, env } = bed;
  github.setPull(REPOSITORY, 2, 'closed'); // PR 3 unknown: GitHub answers 404
  addPrKey(venice, REPOSITORY, 2);
  addPrKey(venice, REPOSITORY, 3);
  const { main } = await runJob({ inputs: sweepInputs(), env, event: events.schedule() });
  expect(main.exitCode).toBe(1);
  expect(main.errors[0]).toContain('pull-requests: read');
  expect(venice.count('delete')).toBe(0);
});

test('sweep with dry-run reports what it would delete and deletes nothing', async () => {
  const { venice, github, env } = bed;
  github.setPull(REPOSITORY, 2, 'closed');
  const closed = addPrKey(venice, REPOSITORY, 2);
  const { main } = await runJob({ inputs: sweepInputs({ 'dry-run': 'true' }), env, event: events.schedule() });
  expect(main.exitCode).toBe(0);
  expect(main.outputs['deleted-count']).toBe('0');
  expect(main.stdout).toContain(`Would delete key ${closed.id}`);
  expect(main.summary).toContain('Would delete (dry run)');
  expect(venice.liveKeys()).toHaveLength(1);
});
