// A first run that goes wrong says so once, in main, and leaves post with nothing to do: a wrong admin
// key (401), an api-url that is not Venice's API (404, or a web page), and a connection that never opened
// each end main with one clear error naming the cause, and post sends no request and prints no warning.
// A create that was answered with a key that cannot be used leaves post nothing to watch for.
import { createServer } from 'node:http';
import { expect, test } from 'vitest';
import { closeServer, listenOnLoopback } from '../../fakes/loopback.ts';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

/** main failed with exactly one error matching `error`; post then said nothing and sent nothing. */
function expectOneErrorAndSilentPost(run: Awaited<ReturnType<typeof runJob>>, error: RegExp, requestsAfterMain: number): void {
  expect(run.main.exitCode).toBe(1);
  expect(run.main.errors).toEqual([expect.stringMatching(error)]);
  expect(run.post.exitCode).toBe(0);
  expect(run.post.errors).toEqual([]);
  expect(run.post.warnings).toEqual([]);
  expect(run.post.stdout).toContain('No key was minted in this job; nothing to delete.');
  expect(bed.venice.requests).toHaveLength(requestsAfterMain);
}

test('a wrong admin key: one 401 error in main, naming the fix; post is silent', async () => {
  const run = await runJob({ inputs: bed.inputs({ 'admin-key': 'not-the-admin-key-at-all' }) });
  expectOneErrorAndSilentPost(
    run,
    /^venice-ephemeral-key: Venice refused the admin key \(401\)\..*check the value stored in the secret\.$/,
    1,
  );
});

test("an api-url that is not Venice's API: a 404 says so and names api-url; post is silent", async () => {
  const run = await runJob({ inputs: bed.inputs({ 'api-url': `${bed.venice.apiUrl}/not-here` }) });
  expectOneErrorAndSilentPost(run, /failed with HTTP 404: the address does not look like Venice's API\..*Check api-url/, 1);
});

test('an api-url that serves a web page: said at once, naming api-url; post is silent', async () => {
  const page = createServer((_, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><p>Welcome</p>'));
  const port = await listenOnLoopback(page);
  try {
    const run = await runJob({ inputs: bed.inputs({ 'api-url': `http://127.0.0.1:${port}/api/v1` }) });
    expectOneErrorAndSilentPost(run, /creating the key got an HTML page, not Venice's JSON: .*Check api-url/, 0);
  } finally {
    await closeServer(page);
  }
});

test('a connection that never opens: the error names the address and the cause; post is silent', async () => {
  const closed = createServer();
  const port = await listenOnLoopback(closed);
  await closeServer(closed); // nothing listens there now
  const run = await runJob({ inputs: bed.inputs({ 'api-url': `http://127.0.0.1:${port}/api/v1`, timeout: '10s' }) });
  expectOneErrorAndSilentPost(run, new RegExp(`could not reach http://127\\.0\\.0\\.1:${port}: connection refused`), 0);
});

test('a create answered with a key that cannot be used: main deletes it and fails; post has nothing to watch for', async () => {
  bed.venice.inject('create', { kind: 'patch-data', data: { apiKey: 'a' } });
  const run = await runJob({ inputs: bed.inputs() });
  expectOneErrorAndSilentPost(run, /answered with a secret that does not look like a Venice key.*The key was deleted\.$/, 2);
  expect(bed.venice.requests.map((request) => request.call)).toEqual(['create', 'delete']);
  expect(bed.venice.liveKeys()).toEqual([]);
});
