import { expect, test } from 'vitest';
import { runStep } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test("a delete Venice refuses is a warning naming the key id, the status, Venice's text and the expiry", async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  const main = await runStep('main', { inputs });
  expect(main.exitCode).toBe(0);
  server.inject('delete', { kind: 'status', status: 403 });

  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(post.warnings).toHaveLength(1);
  const warning = post.warnings[0]!;
  expect(warning).toMatch(/^venice-ephemeral-key: could not delete key /);
  expect(warning).toContain(main.outputs['key-id']);
  expect(warning).toContain('HTTP 403');
  expect(warning).toContain('An unknown error occurred');
  expect(warning).toContain(`expires at ${main.outputs['expires-at']}`);
  expect(server.count('delete')).toBe(1); // a 403 is never retried
});

test('fail-on-cleanup-error turns that warning into a failed post step', async () => {
  const server = bed.venice;
  const inputs = bed.inputs({ 'fail-on-cleanup-error': 'true' });
  const main = await runStep('main', { inputs });
  server.inject('delete', { kind: 'status', status: 403 });

  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(1);
  expect(post.warnings).toEqual([]);
  expect(post.errors).toHaveLength(1);
  expect(post.errors[0]).toContain(main.outputs['key-id']);
  expect(post.errors[0]).toContain('HTTP 403');
});
