import { expect, test } from 'vitest';
import { events } from '../support/github-server.ts';
import { runJob } from '../support/runner.ts';
import { expectNoLeaks } from '../support/scenario.ts';
import { addPrKey, REPOSITORY, usePrBed } from './pr-bed.ts';

const bed = usePrBed();

test("revoke for PR 7 deletes PR 7's keys and nothing else", async () => {
  const { venice, env } = bed;
  const target = [addPrKey(venice, REPOSITORY, 7, '100'), addPrKey(venice, REPOSITORY, 7, '200', 'x'.repeat(40))];
  const survivors = [
    addPrKey(venice, REPOSITORY, 8),
    addPrKey(venice, 'octo-org/shop-api', 7),
    addPrKey(venice, 'other-org/shop', 7),
    addPrKey(venice, REPOSITORY, undefined),
    addPrKey(venice, REPOSITORY, 77),
    venice.addKey({ description: 'hand-made key for PR 7' }),
    venice.addKey({ description: 'vek:octo-org/shop#7 lookalike, not our tag' }),
  ];

  const { main, post } = await runJob({
    inputs: { 'admin-key': venice.adminKey, 'api-url': venice.apiUrl, mode: 'revoke' },
    env,
    event: events.pullRequestClosed(7),
  });
  expect(main.exitCode, main.stdout).toBe(0);
  expect(main.outputs['deleted-count']).toBe('2');
  expect(main.outputs['deleted-ids']!.split(',').sort()).toEqual(target.map((k) => k.id).sort());
  expect(
    venice
      .liveKeys()
      .map((k) => k.id)
      .sort(),
  ).toEqual(survivors.map((k) => k.id).sort());
  expect(main.summary).toContain('revoked');
  for (const key of target) expect(main.summary).toContain(key.id);
  expect(bed.github.requests).toEqual([]); // revoke needs no GitHub
  // post does nothing in revoke mode
  expect(post.exitCode).toBe(0);
  expect(venice.requests.filter((r) => r.call === 'delete')).toHaveLength(2);
  expectNoLeaks(venice, [main, post]);
});

test('revoke with dry-run deletes nothing and reports what it would delete', async () => {
  const { venice, env } = bed;
  const target = addPrKey(venice, REPOSITORY, 7);
  const { main } = await runJob({
    inputs: { 'admin-key': venice.adminKey, 'api-url': venice.apiUrl, mode: 'revoke', 'dry-run': 'true' },
    env,
    event: events.pullRequestClosed(7),
  });
  expect(main.exitCode).toBe(0);
  expect(main.outputs['deleted-count']).toBe('0');
  expect(main.stdout).toContain(`Would delete key ${target.id}`);
  expect(main.summary).toContain('would be revoked (dry run)');
  expect(venice.liveKeys()).toHaveLength(1);
  expect(venice.count('delete')).toBe(0);
});

test('revoke refuses when no pull request can be determined, before any request', async () => {
  const { venice, env } = bed;
  addPrKey(venice, REPOSITORY, 7);
  const { main } = await runJob({
    inputs: { 'admin-key': venice.adminKey, 'api-url': venice.apiUrl, mode: 'revoke' },
    env,
    event: events.push(),
  });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([expect.stringContaining('mode: revoke needs a pull request, and this push event has none')]);
  expect(venice.requests).toEqual([]);
});

test('revoke with pr-number works from any event, e.g. a manual dispatch', async () => {
  const { venice, env } = bed;
  addPrKey(venice, REPOSITORY, 31);
  const { main } = await runJob({
    inputs: { 'admin-key': venice.adminKey, 'api-url': venice.apiUrl, mode: 'REVOKE', 'pr-number': '31' },
    env,
    event: { name: 'workflow_dispatch', payload: {} },
  });
  expect(main.outputs['deleted-count']).toBe('1');
  expect(venice.liveKeys()).toEqual([]);
});
