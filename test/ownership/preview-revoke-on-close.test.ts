// mode revoke when a PR closes: every key of that PR goes (preview keys of all slots, and job and run
// keys still alive for it), each read first for its spend; nothing of any other PR or owner is touched.
import { expect, test } from 'vitest';
import { events } from '../../fakes/github-server.ts';
import { runJob } from '../../fakes/runner.ts';
import { addKeysThatMustSurvive, addOwnedKey } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed({ github: true });

test('revoke on PR close deletes all of that PR\u2019s keys and nothing else, and reports what they spent', async () => {
  const survivors = [
    ...addKeysThatMustSurvive(bed.venice, 7),
    addOwnedKey(bed.venice, { pr: 8, scope: 'pr' }),
    addOwnedKey(bed.venice, { scope: 'job' }),
  ];
  const ofPr7 = [
    addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'web' }),
    addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'api' }),
    addOwnedKey(bed.venice, { pr: 7, scope: 'job' }),
    addOwnedKey(bed.venice, { pr: 7, scope: 'run' }),
  ];
  bed.venice.keys.get(ofPr7[0]!.id)!.usage = { usd: 0.5, diem: 1 };
  bed.venice.keys.get(ofPr7[1]!.id)!.usage = { usd: 0.25, diem: 0 };
  const { main, post } = await runJob({ inputs: bed.inputs({ mode: 'revoke' }), env: bed.env, event: events.pullRequestClosed(7) });

  expect(main.exitCode, main.stdout).toBe(0);
  expect(main.outputs['deleted-count']).toBe('4');
  expect(main.outputs['deleted-ids']!.split(',').sort()).toEqual(ofPr7.map((key) => key.id).sort());
  expect(main.outputs['spent-usd']).toBe('0.75');
  expect(main.outputs['spent-diem']).toBe('1');
  expect(bed.venice.count('get')).toBe(4);
  expect(
    bed.venice
      .liveKeys()
      .map((key) => key.id)
      .sort(),
  ).toEqual(survivors.map((key) => key.id).sort());
  expect(post.stdout).toContain('nothing to delete');
  expect(bed.github.requests).toEqual([]);
});

test('a dry run lists the same keys and deletes nothing', async () => {
  const key = addOwnedKey(bed.venice, { pr: 7, scope: 'pr' });
  const { main } = await runJob({
    inputs: bed.inputs({ mode: 'revoke', 'dry-run': 'true' }),
    env: bed.env,
    event: events.pullRequestClosed(7),
  });
  expect(main.outputs['deleted-count']).toBe('0');
  expect(main.stdout).toContain(`Would delete key ${key.id}`);
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test('revoke without a handle or a pull request says how to give one', async () => {
  const { main } = await runJob({ inputs: bed.inputs({ mode: 'revoke' }), env: bed.env, event: events.push() });
  expect(main.exitCode).toBe(1);
  expect(main.errors[0]).toContain('mode: revoke needs a key-handle or a pull request');
  expect(bed.venice.requests).toEqual([]);
});
