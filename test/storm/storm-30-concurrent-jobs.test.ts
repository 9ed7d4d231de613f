// A matrix of 30 jobs minting at once against a creation limit scaled down from Venice's 20 per minute
// to 10 per 2 s: every job gets its key (429s are waited out per Retry-After), none burns the admin
// key's error budget, and after their post steps no key is left.
import { expect, test } from 'vitest';
import { useTestBed } from '../support/bed.ts';
import { runStep, type StepResult } from '../support/runner.ts';

const JOBS = 30;
const bed = useTestBed({ venice: { createLimit: { count: 10, windowMs: 2_000 } } });

test(`${JOBS} concurrent jobs all mint, then all clean up`, async () => {
  const server = bed.venice;
  const inputs = bed.inputs({ timeout: '1m' });
  const job = (index: number) => ({ inputs, env: { GITHUB_JOB: `matrix-${index}` } });

  const mains = await Promise.all(Array.from({ length: JOBS }, (_, i) => runStep('main', job(i))));
  const failedMains = mains.filter((main) => main.exitCode !== 0).map((main) => main.errors.join(' '));
  expect(failedMains).toEqual([]);
  expect(new Set(mains.map((main) => main.outputs['key-id'])).size).toBe(JOBS);
  expect(server.liveKeys()).toHaveLength(JOBS);
  expect(server.count('create')).toBeGreaterThan(JOBS); // the limit really was hit …
  expect(server.failedRequests()).toBe(0); // … yet only with 429s, which do not count against the key

  const posts: StepResult[] = await Promise.all(mains.map((main, i) => runStep('post', { ...job(i), state: main.state })));
  expect(posts.filter((post) => post.exitCode !== 0)).toEqual([]);
  expect(server.liveKeys()).toEqual([]);
}, 120_000);
