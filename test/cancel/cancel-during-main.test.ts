// A cancelled job: the runner sends SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that, then still
// runs the post step. Whatever moment the signal hits, no key may be left alive afterwards.
import { expect, test } from 'vitest';
import { runStep, startStep } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('SIGINT the moment main starts: nothing minted, post finds nothing', async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  const running = startStep('main', { inputs });
  running.cancel();
  const main = await running.done;
  expect(main.exitCode === 0 && main.signal === null).toBe(false);

  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(server.liveKeys()).toEqual([]);
});

test('SIGINT while waiting to retry a rate-limited create: stops at once, nothing minted', async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  server.inject('create', { kind: 'status', status: 429, retryAfter: '30' });
  const running = startStep('main', { inputs });
  await server.nextRequest('create');
  await new Promise((done) => setTimeout(done, 200)); // let it start its 30 s wait
  running.cancel();
  const main = await running.done;

  expect(main.exitCode).toBe(1);
  expect(main.signal).toBeNull(); // it exited by itself, not by the runner's SIGKILL
  expect(main.errors).toEqual([expect.stringContaining('the job was cancelled')]);
  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(server.count('create')).toBe(1);
  expect(server.liveKeys()).toEqual([]);
});

test('SIGINT during a slow create: the create settles, main deletes the key it will not hand out', async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  server.inject('create', { kind: 'delay', ms: 1_500 });
  const running = startStep('main', { inputs });
  await server.nextRequest('create');
  running.cancel();
  const main = await running.done;

  expect(main.exitCode).toBe(1);
  expect(main.signal).toBeNull();
  expect(server.minted).toHaveLength(1);
  expect(server.liveKeys()).toEqual([]); // deleted by main itself
  expect(main.outputs).toEqual({});
  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(server.liveKeys()).toEqual([]);
});

test('SIGINT during a create that never answers: main gives up, post finds the key by its tag and deletes it', async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  server.inject('create', { kind: 'hang' });
  const running = startStep('main', { inputs });
  await server.nextRequest('create');
  running.cancel();
  const main = await running.done;

  expect(main.exitCode).toBe(1);
  expect(main.state['key-id'] ?? '').toBe('');
  expect(main.state['invocation-tag']).toMatch(/^vek:octo-org\/shop job r18234567890\.1 [0-9a-z]{6}$/);
  expect(server.liveKeys()).toHaveLength(1); // made by Venice, never seen by main

  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain('Deleted 1 key(s) left by main.');
  expect(server.liveKeys()).toEqual([]);
});

test('SIGINT during verification: main deletes the new key before exiting', async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  server.inject('verify', { kind: 'hang' });
  const running = startStep('main', { inputs });
  await server.nextRequest('verify');
  running.cancel();
  const main = await running.done;

  expect(main.exitCode).toBe(1);
  expect(main.signal).toBeNull();
  expect(server.liveKeys()).toEqual([]);
  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(server.liveKeys()).toEqual([]);
});

test('SIGINT during a create Venice completes 12 s later: main gives up, post watches for the late key and deletes it', async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  server.inject('create', { kind: 'act-late', ms: 12_000 });
  const running = startStep('main', { inputs });
  await server.nextRequest('create');
  running.cancel();
  const main = await running.done;
  expect(main.exitCode).toBe(1);
  expect(main.signal).toBeNull();
  expect(server.minted).toEqual([]); // not yet: Venice is still working on it

  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain('watching for a late key');
  expect(post.stdout).toContain('Deleted 1 key(s) left by main.');
  expect(server.minted).toHaveLength(1);
  expect(server.liveKeys()).toEqual([]);
  expect(server.count('create')).toBe(1);
}, 40_000);
