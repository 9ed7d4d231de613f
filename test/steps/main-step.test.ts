// The main step in-process, for the moments a runner cannot time precisely.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { mainInProcess } from '../support/in-process.ts';
import { VeniceServer } from '../support/venice-server.ts';

let server: VeniceServer;
let inputs: Record<string, string>;
beforeEach(async () => {
  server = await new VeniceServer().start();
  inputs = { 'admin-key': server.adminKey, 'api-url': server.apiUrl, timeout: '4s' };
});
afterEach(async () => {
  await server.stop();
});

test('cancelled while the create is in flight: the create settles, the key is deleted, outputs stay empty', async () => {
  const cancel = new AbortController();
  const settle = new AbortController();
  server.inject('create', { kind: 'delay', ms: 200 });
  server.nextRequest('create').then(() => cancel.abort());
  const main = await mainInProcess({ inputs, cancel: { signal: cancel.signal, settleSignal: settle.signal } });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([
    'venice-ephemeral-key: the job was cancelled; any key this step created is deleted by it or by its post step.',
  ]);
  expect(main.outputs).toEqual({});
  expect(server.minted).toHaveLength(1);
  expect(server.liveKeys()).toEqual([]);
  expect(main.state['key-id']).toBe('');
});

test('a failed verification whose clean-up also fails leaves the key for post, and says so', async () => {
  server.accessPermitted = false;
  server.inject('delete', { kind: 'status', status: 403 });
  const main = await mainInProcess({ inputs });
  expect(main.exitCode).toBe(1);
  const id = server.minted[0]!.id;
  expect(main.warnings).toEqual([
    expect.stringContaining(`Could not delete key ${id} after the failure (Venice forbade deleting the key (403).`),
  ]);
  expect(main.state['key-id']).toBe(id); // so post will try again
});

test('an unexpected error is reported as one, with the stack only in the debug log, and leaves no key', async () => {
  const main = await mainInProcess({ inputs, fail: 'output' });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([
    'venice-ephemeral-key: unexpected error: ENOSPC: no space left on device, write. Please report it with the debug log.',
  ]);
  expect(main.stdout).toMatch(/::debug::Error: ENOSPC.*%0A\s+at /);
  expect(server.liveKeys()).toEqual([]);
});

test('a job summary that cannot be written is a warning; the key is still good', async () => {
  const main = await mainInProcess({ inputs, fail: 'summary' });
  expect(main.exitCode).toBe(0);
  expect(main.warnings).toEqual([expect.stringContaining('could not write the job summary (ENOSPC')]);
  expect(server.liveKeys()).toHaveLength(1);
});

test('outside a runner (no GITHUB_REPOSITORY) it says so before any request', async () => {
  const main = await mainInProcess({ inputs, env: { GITHUB_REPOSITORY: '' } });
  expect(main.errors[0]).toContain('must run inside a GitHub Actions job');
  expect(server.requests).toEqual([]);
});
