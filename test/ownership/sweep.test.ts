// mode sweep on a schedule: keys of closed PRs and of completed runs go; keys of open PRs, runs still
// going and skip-delete job keys stay; a PR or run GitHub cannot answer keeps its keys without stopping
// the rest, and the step ends with a warning (or fails with fail-on-cleanup-error).
import { expect, test } from 'vitest';
import { events } from '../../fakes/github-server.ts';
import { runJob } from '../../fakes/runner.ts';
import { addKeysThatMustSurvive, addOwnedKey, REPOSITORY } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed({ github: true });

function layOut() {
  const { venice, github } = bed;
  github.setPull(REPOSITORY, 1, 'closed');
  github.setPull(REPOSITORY, 2, 'merged');
  github.setPull(REPOSITORY, 3, 'open');
  github.setRun(REPOSITORY, '501', 'completed');
  github.setRun(REPOSITORY, '502', 'in_progress');
  github.failPath.set(`/repos/${REPOSITORY}/pulls/4`, 500);
  github.failPath.set(`/repos/${REPOSITORY}/actions/runs/504`, 403);
  return {
    gone: [
      addOwnedKey(venice, { pr: 1, scope: 'pr', slot: 'web' }),
      addOwnedKey(venice, { pr: 2, scope: 'pr', slot: 'api' }),
      addOwnedKey(venice, { scope: 'job', runId: '501' }),
      addOwnedKey(venice, { scope: 'run', runId: '501', pr: 3 }),
    ],
    kept: [
      ...addKeysThatMustSurvive(venice, 1),
      addOwnedKey(venice, { pr: 3, scope: 'pr' }),
      addOwnedKey(venice, { scope: 'job', runId: '502' }),
      addOwnedKey(venice, { scope: 'kept', runId: '501' }),
      addOwnedKey(venice, { pr: 4, scope: 'pr' }), // GitHub answers 500 about PR #4
      addOwnedKey(venice, { scope: 'run', runId: '504' }), // … and 403 about run 504
      addOwnedKey(venice, { pr: 5, scope: 'pr' }), // … and 404 about PR #5
    ],
  };
}

test('sweep deletes keys of closed PRs and completed runs, keeps the rest, and carries on past what GitHub cannot answer', async () => {
  const { gone, kept } = layOut();
  const { main } = await runJob({ inputs: bed.inputs({ mode: 'sweep' }), env: bed.env, event: events.schedule() });
  expect(main.exitCode, main.stdout).toBe(0);
  expect(main.outputs['deleted-ids']!.split(',').sort()).toEqual(gone.map((key) => key.id).sort());
  expect(main.outputs['kept-count']).toBe('6'); // the action's own kept keys, not the hand-made ones
  expect(
    bed.venice
      .liveKeys()
      .map((key) => key.id)
      .sort(),
  ).toEqual(kept.map((key) => key.id).sort());
  expect(main.warnings).toEqual([expect.stringContaining('GitHub could not answer about 3 pull request(s) or run(s)')]);
  expect(main.warnings[0]).toContain('PR #4');
  expect(main.warnings[0]).toContain('run 504');
  expect(main.warnings[0]).toContain('PR #5');
  expect(main.warnings[0]).toContain('permissions: pull-requests: read, actions: read');
  expect(main.summary).toContain('#### GitHub did not answer');
  // One question per PR and per run, however many keys share it.
  const asked = bed.github.requests.map((r) => r.path);
  expect(new Set(asked).size).toBe(asked.length);
});

test('with fail-on-cleanup-error what GitHub could not answer fails the step, after everything else was handled', async () => {
  const { gone } = layOut();
  const { main } = await runJob({
    inputs: bed.inputs({ mode: 'sweep', 'fail-on-cleanup-error': 'true' }),
    env: bed.env,
    event: events.schedule(),
  });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([expect.stringContaining('GitHub could not answer')]);
  for (const key of gone) expect(bed.venice.keys.has(key.id)).toBe(false);
});

test('a dry run names what would go and deletes nothing', async () => {
  const { gone } = layOut();
  const { main } = await runJob({ inputs: bed.inputs({ mode: 'sweep', 'dry-run': 'true' }), env: bed.env, event: events.schedule() });
  expect(main.outputs['deleted-count']).toBe('0');
  for (const key of gone) expect(main.stdout).toContain(`Would delete key ${key.id}`);
  expect(bed.venice.count('delete')).toBe(0);
});
