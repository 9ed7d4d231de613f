// scope: pr with slots: rotation deletes only the older preview key of the same PR and slot. Everything
// else survives: look-alike and hand-made keys, an admin key and a never-expiring key with valid tags,
// another repository's keys, a CI job key and a run key of the same PR, and another slot's preview key.
import { expect, test } from 'vitest';
import { events } from '../../fakes/github-server.ts';
import { runJob } from '../../fakes/runner.ts';
import { addKeysThatMustSurvive, addOwnedKey, REPOSITORY } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed({ github: true });

test('rotate in slot web deletes only the older web preview key of that PR', async () => {
  bed.github.setPull(REPOSITORY, 7, 'open');
  const survivors = [
    ...addKeysThatMustSurvive(bed.venice, 7),
    addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'api' }),
    addOwnedKey(bed.venice, { pr: 7, scope: 'job' }),
    addOwnedKey(bed.venice, { pr: 7, scope: 'run' }),
    addOwnedKey(bed.venice, { pr: 8, scope: 'pr', slot: 'web' }),
  ];
  const olderWeb = addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'web' });
  const { main, post } = await runJob({
    inputs: bed.inputs({ scope: 'pr', slot: 'web', rotate: 'true', 'expires-in': '7d' }),
    env: bed.env,
    event: events.pullRequest(7),
  });
  expect(main.exitCode, main.stdout).toBe(0);
  const minted = bed.venice.minted[0]!;
  expect(minted.description).toMatch(/^vek:octo-org\/shop#7 pr:web r18234567890\.1 [0-9a-z]{6}$/);
  expect(main.stdout).toContain(`Deleted key ${olderWeb.id}`);
  expect(main.stdout).toContain('Rotated out 1 older key(s) of PR #7 slot web.');
  expect(main.summary).toContain(olderWeb.id);
  expect(post.stdout).toContain(`Key ${minted.id} is PR #7's preview key: it stays`);
  expect(
    bed.venice
      .liveKeys()
      .map((key) => key.id)
      .sort(),
  ).toEqual([...survivors.map((key) => key.id), minted.id].sort());
});

test('the slot defaults to the job id, and a matrix leg of another slot does not rotate this one', async () => {
  bed.github.setPull(REPOSITORY, 7, 'open');
  const inputs = bed.inputs({ scope: 'pr', rotate: 'true' });
  const deploy = await runJob({ inputs, env: { ...bed.env, GITHUB_JOB: 'deploy' }, event: events.pullRequest(7) });
  const other = await runJob({
    inputs: { ...inputs, slot: 'docs' },
    env: { ...bed.env, GITHUB_JOB: 'deploy' },
    event: events.pullRequest(7),
  });
  expect(deploy.main.exitCode).toBe(0);
  expect(other.main.exitCode).toBe(0);
  expect(deploy.main.outputs.description).toMatch(/ pr:deploy r/);
  expect(other.main.outputs.description).toMatch(/ pr:docs r/);
  expect(bed.venice.liveKeys()).toHaveLength(2);
});

test('scope pr on an event without a pull request is an input error before any request', async () => {
  const { main } = await runJob({ inputs: bed.inputs({ scope: 'pr' }), env: bed.env, event: events.push() });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([expect.stringContaining("input 'scope': is pr, but this push event has no pull request.")]);
  expect(bed.venice.requests).toEqual([]);
  expect(bed.github.requests).toEqual([]);
});

test('a closed PR gets no preview key; a job key on a pull_request: closed workflow is minted as usual', async () => {
  bed.github.setPull(REPOSITORY, 9, 'merged');
  const preview = await runJob({ inputs: bed.inputs({ scope: 'pr' }), env: bed.env, event: events.pullRequestClosed(9) });
  expect(preview.main.exitCode).toBe(0);
  expect(preview.main.stdout).toContain('PR #9 is merged: no preview key minted');
  expect(bed.venice.minted).toEqual([]);
  const job = await runJob({ inputs: bed.inputs(), env: bed.env, event: events.pullRequestClosed(9) });
  expect(job.main.exitCode).toBe(0);
  expect(job.main.outputs.description).toMatch(/^vek:octo-org\/shop#9 job r/);
  expect(bed.github.requests).toHaveLength(1); // only the preview mint asked GitHub
  expect(bed.venice.liveKeys()).toEqual([]);
});
