// The preview lifecycle through the broker, in-process (the same steps as the dist/ tests beside it, so
// coverage sees them): rotate reports what the broker rotated out (or that it could not), revoke and
// sweep go through the broker's endpoints with dry runs, and the broker's answers are trusted only for
// keys whose own tag names this repository.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { leasedKey, TEST_DEFAULTS, useBrokerBed } from '../../broker/test/support/broker-bed.ts';
import { events, GitHubServer } from '../../fakes/github-server.ts';
import { REPOSITORY } from '../../testkit/seed-keys.ts';
import { mainInProcess } from '../support/in-process.ts';

const bed = useBrokerBed({
  defaults: TEST_DEFAULTS,
  rules: [
    {
      name: 'pulls',
      match: { repository_owner: 'octo-org', event_name: 'pull_request' },
      operations: ['mint', 'use', 'delete', 'rotate', 'revoke'],
      'allow-skip-delete': true,
    },
    { name: 'nightly', match: { repository_owner: 'octo-org', event_name: 'schedule' }, operations: ['sweep'] },
  ],
});
let github: GitHubServer;
beforeEach(async () => {
  github = await new GitHubServer().start();
});
afterEach(async () => {
  await github.stop();
});

/** The step's environment for an event: its payload in GITHUB_EVENT_PATH, and the job's ID token. */
function env(event: { name: string; payload: unknown }, claims: Record<string, string>): Record<string, string> {
  const path = join(mkdtempSync(join(tmpdir(), 'vek-event-')), 'event.json');
  writeFileSync(path, JSON.stringify(event.payload));
  return { GITHUB_EVENT_NAME: event.name, GITHUB_EVENT_PATH: path, GITHUB_API_URL: github.url, ...bed.jobEnv(REPOSITORY, claims) };
}

const ofPull = { ref: 'refs/pull/7/merge', event_name: 'pull_request' };

test('rotate through the broker: the older key goes; when the broker cannot rotate, the step warns and keeps its key', async () => {
  github.setPull(REPOSITORY, 7, 'open');
  const inputs = bed.inputs({ scope: 'pr', slot: 'web', rotate: 'true', 'expires-in': '1h' });
  const first = await mainInProcess({ inputs, env: env(events.pullRequest(7), ofPull) });
  expect(first.stdout).toContain('No older key of PR #7 slot web to rotate out.');
  const second = await mainInProcess({ inputs, env: env(events.pullRequest(7), ofPull) });
  expect(second.errors).toEqual([]);
  expect(second.stdout).toContain('Rotated out 1 older key(s) of PR #7 slot web through the broker.');
  expect(bed.venice.liveKeys().map((key) => key.id)).toEqual([second.outputs['key-id']]);
  // The older key's deletion is refused at Venice: the new key is still handed over, with a warning.
  bed.venice.inject('get', { kind: 'status', status: 403 }, 3);
  bed.venice.inject('delete', { kind: 'status', status: 403 }, 3);
  const failed = await mainInProcess({ inputs, env: env(events.pullRequest(7), ofPull) });
  expect(failed.errors).toEqual([]);
  expect(failed.warnings).toEqual([
    expect.stringContaining(
      'could not delete the older keys of PR #7 slot web through the broker (the broker said its rotation failed); they expire as set.',
    ),
  ]);
});

test("revoke through the broker: a merged PR's keys, after a dry run that deletes nothing", async () => {
  const ofPr = [
    await leasedKey(bed, { pr: 7, body: { scope: 'pr', slot: 'web' } }),
    await leasedKey(bed, { pr: 7, body: { 'skip-delete': true } }),
  ];
  const other = await leasedKey(bed, { pr: 8, body: { scope: 'pr', slot: 'web' } });
  const merged = { ref: 'refs/heads/main', event_name: 'pull_request' };
  const dry = await mainInProcess({
    inputs: bed.inputs({ mode: 'revoke', 'dry-run': 'true' }),
    env: env(events.pullRequestClosed(7), merged),
  });
  expect(dry.errors).toEqual([]);
  expect(dry.outputs['deleted-count']).toBe('0');
  expect(dry.stdout).toContain(`Would delete key ${ofPr[0]?.id}`);
  const revoke = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke' }), env: env(events.pullRequestClosed(7), merged) });
  expect(revoke.errors).toEqual([]);
  expect(revoke.outputs['deleted-ids']?.split(',').sort()).toEqual(ofPr.map((key) => key.id).sort());
  expect(bed.venice.liveKeys().map((key) => key.id)).toEqual([other.id]);
});

test('sweep through the broker: keys of closed PRs and completed runs go; a dry run first deletes nothing', async () => {
  github.setPull(REPOSITORY, 1, 'closed');
  github.setPull(REPOSITORY, 3, 'open');
  github.setRun(REPOSITORY, '501', 'completed');
  // Two keys of one PR: GitHub is asked about it once.
  const gone = [
    await leasedKey(bed, { pr: 1, body: { scope: 'pr', slot: 'web' } }),
    await leasedKey(bed, { pr: 1, body: { scope: 'pr', slot: 'api' } }),
    await leasedKey(bed, { pr: 1, runId: '501' }),
  ];
  const kept = [
    await leasedKey(bed, { pr: 3, body: { scope: 'pr' } }),
    await leasedKey(bed, { pr: 3, runId: '501', body: { 'skip-delete': true } }),
  ];
  const nightly = { ref: 'refs/heads/main', event_name: 'schedule' };
  const dry = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep', 'dry-run': 'true' }), env: env(events.schedule(), nightly) });
  expect(dry.outputs).toMatchObject({ 'deleted-count': '0', 'kept-count': '2' });
  expect(dry.stdout).toContain(`Would delete key ${gone[0]?.id}`);
  const sweep = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep' }), env: env(events.schedule(), nightly) });
  expect(sweep.errors).toEqual([]);
  expect(sweep.outputs['deleted-ids']?.split(',').sort()).toEqual(gone.map((key) => key.id).sort());
  expect(
    bed.venice
      .liveKeys()
      .map((key) => key.id)
      .sort(),
  ).toEqual(kept.map((key) => key.id).sort());
});
