// An api-url nobody answers at fails fast and names api-url, instead of 8 attempts over half a minute:
// a refused connection is tried once more (Venice is never down that way for long; a wrong address is),
// and a host that does not resolve is final at once. The resolver is asked inside a network namespace
// of the step's own (unshare --net), so the lookup never leaves this machine.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { expect, test } from 'vitest';
import { closeServer, listenOnLoopback } from '../../fakes/loopback.ts';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();
const API_URL_ADVICE = /Check api-url: Venice\u2019s is https:\/\/api\.venice\.ai\/api\/v1 .*and that the runner can reach it/;

/** Whether this machine lets a process have a network namespace of its own (root, as on CI's machine). */
function canUnshare(): boolean {
  try {
    execFileSync('unshare', ['--net', '--', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI) throw new Error('CI must run the unresolvable api-url test: `unshare --net` needs root (util-linux).');
    process.stdout.write('unshare --net is not permitted here (run as root): the unresolvable api-url test is skipped\n');
    return false;
  }
}

test('a refused connection: main tries once more, then fails naming api-url, well within 5 s; post is silent', async () => {
  const closed = createServer();
  const port = await listenOnLoopback(closed);
  await closeServer(closed); // nothing listens there now
  const run = await runJob({ inputs: bed.inputs({ 'api-url': `http://127.0.0.1:${port}/api/v1` }) });
  expect(run.main.exitCode).toBe(1);
  expect(run.main.errors).toEqual([
    expect.stringMatching(new RegExp(`could not reach http://127\\.0\\.0\\.1:${port}: connection refused\\.`)),
  ]);
  expect(run.main.errors[0]).toMatch(API_URL_ADVICE);
  expect(run.main.stdout.match(/attempt failed \(could not reach/g)).toHaveLength(1); // one retry, not seven
  expect(run.main.durationMs).toBeLessThan(5_000);
  expect(run.post.errors).toEqual([]);
  expect(run.post.warnings).toEqual([]);
});

test.runIf(canUnshare())('a host that does not resolve: final at once, naming api-url', async () => {
  const run = await runJob({
    inputs: bed.inputs({ 'api-url': 'https://venice.invalid/api/v1' }),
    wrapper: ['unshare', '--net', '--'],
  });
  expect(run.main.exitCode).toBe(1);
  expect(run.main.errors).toEqual([expect.stringMatching(/could not reach https:\/\/venice\.invalid: host not found\./)]);
  expect(run.main.errors[0]).toMatch(API_URL_ADVICE);
  expect(run.main.stdout).not.toMatch(/attempt failed/); // nothing retried
  expect(run.main.durationMs).toBeLessThan(5_000);
  expect(run.post.errors).toEqual([]);
});
