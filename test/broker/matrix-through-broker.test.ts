// A 30-job matrix, every job minting its own key through one broker, at Venice's real creation limit
// (20 per minute, one-minute window, unscaled), on a virtual clock so the outcome never depends on the
// machine: all 30 jobs get their key, the broker's queue spaces the creates so Venice never has to say
// 429 (with or without Retry-After on its answers), and the last key comes within 1.25 windows.
import { expect, test } from 'vitest';
import { AUDIENCE, expectCleanAudit, startTestBroker } from '../../broker/test/support/broker-bed.ts';
import { jobClaims, OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { stepsRun } from '../../fakes/runner.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { expectNoLeaks } from '../../testkit/leaks.ts';
import { REPOSITORY, RUN_ID } from '../../testkit/seed-keys.ts';
import { seededRandom, VirtualClock, virtualPolicy } from '../../testkit/virtual-clock.ts';
import { mainInProcess } from '../support/in-process.ts';

const JOBS = 30;
const WINDOW_MS = 60_000;

test.each([true, false])('30 jobs through one broker at 20 creations per minute, Retry-After sent: %s', async (retryAfterHeader) => {
  stepsRun.length = 0;
  const start = Date.parse('2026-11-26T12:00:00Z');
  const clock = new VirtualClock(start, JOBS);
  const random = seededRandom(retryAfterHeader ? 3 : 4);
  const venice = await new VeniceServer({ createLimit: { count: 20, windowMs: WINDOW_MS }, retryAfterHeader, clock: clock.read }).start();
  const issuer = await new OidcIssuer(AUDIENCE, clock.read).start();
  const broker = await startTestBroker({ venice, issuer, now: clock.read, policy: virtualPolicy(clock, random) });
  try {
    const mintedAt: number[] = [];
    const inputs = { 'broker-url': broker.url, 'broker-audience': AUDIENCE, 'api-url': venice.apiUrl };
    const mains = await Promise.all(
      Array.from({ length: JOBS }, (_, i) =>
        mainInProcess({
          inputs,
          env: { GITHUB_JOB: `leg-${i}`, ...issuer.jobEnv(jobClaims(REPOSITORY, RUN_ID)) },
          now: clock.read,
          policy: virtualPolicy(clock, random),
        }).then((main) => {
          mintedAt.push(clock.now);
          clock.stepDone();
          return main;
        }),
      ),
    );

    expect(mains.filter((main) => main.exitCode !== 0).map((main) => main.errors)).toEqual([]);
    expect(new Set(mains.map((main) => main.outputs['key-id'])).size).toBe(JOBS);
    expect(venice.liveKeys()).toHaveLength(JOBS);
    expect(venice.count('create')).toBe(JOBS); // the queue kept every create within the limit: no 429 to wait out
    expect(venice.failedRequests()).toBe(0);
    const wall = Math.max(...mintedAt) - start;
    expect(wall).toBeGreaterThanOrEqual(WINDOW_MS); // jobs 21 to 30 had to wait for the window
    expect(wall).toBeLessThanOrEqual(1.25 * WINDOW_MS);
    expect(broker.audit.filter((line) => line.action === 'mint' && line.outcome === 'granted')).toHaveLength(JOBS);
    expect(broker.audit).toHaveLength(JOBS); // one line per decision
    expectCleanAudit(broker, venice, issuer);
    expectNoLeaks(venice);
  } finally {
    await broker.stop();
    await issuer.stop();
    await venice.stop();
  }
});
