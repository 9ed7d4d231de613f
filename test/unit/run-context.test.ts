import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { prNumberFromEvent, readRunContext } from '../../src/runner/run-context.ts';

test.each([
  ['pull_request', { pull_request: { number: 7 } }, 7],
  ['pull_request_target', { pull_request: { number: 8 } }, 8],
  ['pull_request_review', { review: {}, pull_request: { number: 9 } }, 9],
  ['issue_comment on a PR', { issue: { number: 10, pull_request: { url: 'x' } } }, 10],
  ['issue_comment on an issue', { issue: { number: 11 } }, undefined],
  ['push', { ref: 'refs/heads/main' }, undefined],
  ['garbage', 'not an object', undefined],
  ['a bad number', { pull_request: { number: -1 } }, undefined],
])('%s → PR %j', (_name, payload, pr) => {
  expect(prNumberFromEvent(payload)).toBe(pr);
});

test('reads the run from the runner environment', () => {
  const eventPath = join(mkdtempSync(join(tmpdir(), 'vek-ctx-')), 'event.json');
  writeFileSync(eventPath, JSON.stringify({ pull_request: { number: 42 } }));
  expect(
    readRunContext({
      GITHUB_REPOSITORY: 'octo-org/shop',
      GITHUB_RUN_ID: '123',
      GITHUB_RUN_ATTEMPT: '3',
      GITHUB_JOB: 'deploy',
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
    }),
  ).toEqual({
    repository: 'octo-org/shop',
    runId: '123',
    runAttempt: '3',
    job: 'deploy',
    eventName: 'pull_request',
    prNumber: 42,
    githubApiUrl: 'https://ghe.example.com/api/v3',
  });
});

test('outside a runner it says so', () => {
  expect(() => readRunContext({})).toThrow(/must run inside a GitHub Actions job/);
  const ctx = readRunContext({ GITHUB_REPOSITORY: 'a/b', GITHUB_RUN_ID: '1', GITHUB_EVENT_PATH: '/nonexistent' });
  expect(ctx.prNumber).toBeUndefined();
  expect(ctx.runAttempt).toBe('1');
});
