// A job key through the broker, in-process: the requested caps above the policy are lowered, and the
// step says so (a warning per ceiling, and the summary shows what was granted, not what was asked);
// post deletes the key through the broker and reports its spend.
import { expect, test } from 'vitest';
import { useBrokerBed } from '../../broker/test/support/broker-bed.ts';
import { GitHubServer } from '../../fakes/github-server.ts';
import { REPOSITORY } from '../../testkit/seed-keys.ts';
import { mainInProcess, postInProcess } from '../support/in-process.ts';

const bed = useBrokerBed();

test('main mints through the broker with the granted caps; post deletes through it', async () => {
  const env = bed.jobEnv();
  const main = await mainInProcess({ inputs: bed.inputs({ 'usd-limit': '50', 'expires-in': '1d', description: 'evals' }), env });
  expect(main.errors).toEqual([]);
  const [key] = bed.venice.liveKeys();
  expect(key?.consumptionLimit).toEqual({ usd: 5, diem: 1 });
  expect(main.outputs['key-id']).toBe(key?.id);
  expect(main.outputs.description).toMatch(/^evals vek:octo-org\/shop job r18234567890\.1 [0-9a-z]{6}$/);
  expect(main.warnings).toEqual([
    "venice-ephemeral-key: the broker's policy lowered the request: usd-limit 50 is above the ceiling 5: granted usd-limit 5",
    "venice-ephemeral-key: the broker's policy lowered the request: expires-in 1d is longer than 2h: granted expires-in 2h",
  ]);
  expect(main.summary).toContain('| USD limit | 5 per UTC day |'); // what was granted, not the 50 asked for
  expect(main.summary).toContain("| Granted by | the broker's rule octo-org-main |");
  expect(main.summary).toContain('| Lowered to the policy | usd-limit 50 is above the ceiling 5: granted usd-limit 5<br>');

  const post = await postInProcess({ inputs: bed.inputs(), env: bed.jobEnv(), state: main.state });
  expect(post.errors).toEqual([]);
  expect(post.stdout).toContain(`Deleted key ${key?.id} through the broker. It spent 0 USD and 0 DIEM (trailing seven days).`);
  expect(bed.venice.liveKeys()).toEqual([]);
  expect(bed.broker.audit.map((line) => `${line.action} ${line.outcome}`)).toEqual(['mint clamped', 'delete deleted']);
});

test('a run key through the broker stays after post; a failed verify deletes it through the broker', async () => {
  const main = await mainInProcess({ inputs: bed.inputs({ scope: 'run' }), env: bed.jobEnv() });
  expect(main.outputs['key-handle']).toMatch(/^vek1\.18234567890\./);
  const post = await postInProcess({ inputs: bed.inputs(), env: bed.jobEnv(), state: main.state });
  expect(post.stdout).toMatch(/is the run's key: it stays/);
  expect(bed.venice.liveKeys()).toHaveLength(1);

  bed.venice.inject('verify', { kind: 'answer', body: { data: { accessPermitted: false } } });
  const refused = await mainInProcess({ inputs: bed.inputs(), env: bed.jobEnv() });
  expect(refused.errors).toEqual([expect.stringMatching(/Venice reports accessPermitted: false/)]);
  expect(refused.stdout).toMatch(/Deleted key \S+ through the broker because the step failed\./);
  expect(refused.state['key-id']).toBe('');
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test('a preview key through the broker: only for an open PR (as GitHub says), the slot from the job', async () => {
  const github = await new GitHubServer().start();
  try {
    github.setPull(REPOSITORY, 7, 'open');
    github.setPull(REPOSITORY, 8, 'merged');
    // The broker takes the PR from the token: a pull_request run's ref names it.
    const env = (pr: number): Record<string, string> => ({
      GITHUB_API_URL: github.url,
      ...bed.jobEnv(REPOSITORY, { ref: `refs/pull/${pr}/merge`, event_name: 'pull_request' }),
    });
    const main = await mainInProcess({ inputs: bed.inputs({ scope: 'pr', 'pr-number': '7' }), env: env(7) });
    expect(main.errors).toEqual([]);
    expect(main.outputs.description).toMatch(/^vek:octo-org\/shop#7 pr:build r18234567890\.1 [0-9a-z]{6}$/);
    const post = await postInProcess({ inputs: bed.inputs(), env: env(7), state: main.state });
    expect(post.stdout).toMatch(/is PR #7's preview key: it stays/);

    const merged = await mainInProcess({ inputs: bed.inputs({ scope: 'pr', 'pr-number': '8' }), env: env(8) });
    expect(merged.errors).toEqual([]);
    expect(merged.stdout).toContain('PR #8 is merged: no preview key minted, so nothing is left behind for it.');
    expect(bed.venice.liveKeys()).toHaveLength(1);
    expect(bed.broker.audit.map((line) => line.action)).toEqual(['mint']); // the broker was not asked for PR #8
  } finally {
    await github.stop();
  }
});
