// The run-key recipe's matrix: 30 jobs of `mode: use` share the one key the mint job made. However wide
// the matrix, Venice sees one create, far inside its 20-per-minute creation limit.
import { expect, test } from 'vitest';
import { runStep } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const JOBS = 30;
const bed = useTestBed();

test(`a ${JOBS}-job matrix of mode: use makes one create in total`, async () => {
  const mint = await runStep('main', { inputs: bed.inputs({ scope: 'run' }), env: { GITHUB_JOB: 'mint' } });
  expect(mint.exitCode).toBe(0);
  const inputs = bed.inputs({ mode: 'use', 'key-handle': mint.outputs['key-handle']! });
  const legs = await Promise.all(Array.from({ length: JOBS }, (_, i) => runStep('main', { inputs, env: { GITHUB_JOB: `evals-${i}` } })));
  expect(legs.filter((leg) => leg.exitCode !== 0).map((leg) => leg.errors)).toEqual([]);
  expect(new Set(legs.map((leg) => leg.outputs['api-key']))).toEqual(new Set([mint.outputs['api-key']]));
  expect(bed.venice.count('create')).toBe(1);
  expect(bed.venice.count('verify')).toBe(JOBS + 1);
  expect(bed.venice.failedRequests()).toBe(0);
}, 60_000);
