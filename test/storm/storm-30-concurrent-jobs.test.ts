// The same 30-job matrix as matrix-at-venice-limit.test.ts, but as 30 real processes running the
// committed dist/ at once against Venice's real limit (20 creations per minute, Retry-After sent): every
// job gets its key, none burns the admin key's error budget, and after their post steps no key is left.
// It takes a little over the one-minute window; `npm run bench` reports how much over.
import { expect, test } from 'vitest';
import { runStep, type StepResult } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const JOBS = 30;
const bed = useTestBed({ venice: { createLimit: { count: 20, windowMs: 60_000 } } });

test(`${JOBS} concurrent jobs all mint, then all clean up`, async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  const job = (index: number) => ({ inputs, env: { GITHUB_JOB: `matrix-${index}` } });

  const mains = await Promise.all(Array.from({ length: JOBS }, (_, i) => runStep('main', { ...job(i), limitMs: 150_000 })));
  const failedMains = mains.filter((main) => main.exitCode !== 0).map((main) => main.errors.join(' '));
  expect(failedMains).toEqual([]);
  expect(new Set(mains.map((main) => main.outputs['key-id'])).size).toBe(JOBS);
  expect(server.liveKeys()).toHaveLength(JOBS);
  expect(server.count('create')).toBeGreaterThan(JOBS); // the limit really was hit …
  expect(server.failedRequests()).toBe(0); // … yet only with 429s, which do not count against the key

  const posts: StepResult[] = await Promise.all(mains.map((main, i) => runStep('post', { ...job(i), state: main.state })));
  expect(posts.filter((post) => post.exitCode !== 0)).toEqual([]);
  expect(server.liveKeys()).toEqual([]);
}, 180_000);
