// With RUNNER_DEBUG=1 the runner shows `::debug::` lines too. The action's only debug output is the stack
// of an unexpected error, so this forces one (a runner without GITHUB_OUTPUT) and checks that the debug
// line really is there, carries the stack, and, like everything else, shows no secret.
import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('with RUNNER_DEBUG=1 an unexpected error shows its stack in a debug line, and neither key', async () => {
  const { main, post } = await runJob({
    inputs: bed.inputs({ 'export-env': 'VENICE_API_KEY' }),
    env: { RUNNER_DEBUG: '1', GITHUB_OUTPUT: '' },
  });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([expect.stringContaining('unexpected error: GITHUB_OUTPUT is not set')]);
  const debug = main.commands.filter((c) => c.command === 'debug');
  expect(debug).toHaveLength(1);
  expect(debug[0]!.data).toMatch(/\n\s+at /); // the stack, for the debug log only
  expect(bed.venice.minted).toHaveLength(1); // the key existed, and was in memory when it failed …
  expect(bed.venice.liveKeys()).toEqual([]); // … and main deleted it
  expect(post.exitCode).toBe(0);
});

test('with RUNNER_DEBUG=1 a failing delete prints neither key', async () => {
  const server = bed.venice;
  server.accessPermitted = false;
  server.inject('delete', { kind: 'status', status: 403 }, 5);
  const { main, post } = await runJob({ inputs: bed.inputs(), env: { RUNNER_DEBUG: '1' } });
  expect(main.exitCode).toBe(1);
  expect(post.warnings.length + post.errors.length).toBeGreaterThan(0);
});
