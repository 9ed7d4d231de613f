// A 30-job matrix where every job mints its own key (scope: job) against Venice's real creation limit,
// 20 per minute, with and without Retry-After on the 429s. Run in-process on a virtual clock, so the
// real one-minute window is kept (no scaling) and the outcome is the same every time: every job gets
// its key, none burns the admin key's error budget (no 4xx but 429), and the last key is minted within
// 1.25 times the one-window floor (jobs 21 to 30 cannot be served before the window reopens at 60 s).
import { expect, test } from 'vitest';
import { stepsRun } from '../../fakes/runner.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { expectNoLeaks } from '../../testkit/leaks.ts';
import { seededRandom, VirtualClock, virtualPolicy } from '../../testkit/virtual-clock.ts';
import { mainInProcess } from '../support/in-process.ts';

const JOBS = 30;
const WINDOW_MS = 60_000;

test.each([true, false])('30 jobs at 20 creations per minute, Retry-After sent: %s', async (retryAfterHeader) => {
  stepsRun.length = 0;
  const start = Date.parse('2026-11-26T12:00:00Z');
  const clock = new VirtualClock(start, JOBS);
  const venice = await new VeniceServer({ createLimit: { count: 20, windowMs: WINDOW_MS }, retryAfterHeader, clock: clock.read }).start();
  try {
    const random = seededRandom(retryAfterHeader ? 1 : 2);
    const inputs = { 'admin-key': venice.adminKey, 'api-url': venice.apiUrl };
    const mintedAt: number[] = [];
    const jobs = Array.from({ length: JOBS }, (_, i) =>
      mainInProcess({ inputs, env: { GITHUB_JOB: `leg-${i}` }, now: clock.read, policy: virtualPolicy(clock, random) }).then((main) => {
        mintedAt.push(clock.now);
        clock.stepDone();
        return main;
      }),
    );
    const mains = await Promise.all(jobs);

    expect(mains.filter((main) => main.exitCode !== 0).map((main) => main.errors)).toEqual([]);
    expect(venice.liveKeys()).toHaveLength(JOBS);
    expect(venice.count('create')).toBeGreaterThan(JOBS); // the limit was really hit …
    expect(venice.failedRequests()).toBe(0); // … and answered only with 429s, which cost no error budget
    const wall = Math.max(...mintedAt) - start;
    expect(wall).toBeGreaterThanOrEqual(WINDOW_MS); // the floor: the window had to reopen
    expect(wall).toBeLessThanOrEqual(1.25 * WINDOW_MS);
    // Each job logs the rate limit once, not once per wait.
    for (const main of mains.filter((m) => m.stdout.includes('rate limiting'))) {
      expect(main.stdout.match(/rate limiting/g)).toHaveLength(1);
    }
    expectNoLeaks(venice);
  } finally {
    await venice.stop();
  }
});
