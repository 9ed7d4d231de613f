// The main step in-process, for the moments a runner cannot time precisely.
import { expect, test } from 'vitest';
import { useTestBed } from '../support/bed.ts';
import { mainInProcess } from '../support/in-process.ts';

const bed = useTestBed();

test('cancelled while the create is in flight: the create settles, the key is deleted, outputs stay empty', async () => {
  const cancel = new AbortController();
  const settle = new AbortController();
  bed.venice.inject('create', { kind: 'delay', ms: 200 });
  bed.venice.nextRequest('create').then(() => cancel.abort());
  const main = await mainInProcess({ inputs: bed.inputs(), cancel: { signal: cancel.signal, settleSignal: settle.signal } });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([
    'venice-ephemeral-key: the job was cancelled; any key this step created is deleted by it or by its post step.',
  ]);
  expect(main.outputs).toEqual({});
  expect(bed.venice.minted).toHaveLength(1);
  expect(bed.venice.liveKeys()).toEqual([]);
  expect(main.state['key-id']).toBe('');
});

test('a failed verification whose clean-up also fails leaves the key for post, and says so', async () => {
  bed.venice.accessPermitted = false;
  bed.venice.inject('delete', { kind: 'status', status: 403 });
  const main = await mainInProcess({ inputs: bed.inputs() });
  expect(main.exitCode).toBe(1);
  const id = bed.venice.minted[0]!.id;
  expect(main.warnings).toEqual([
    expect.stringContaining(`Could not delete key ${id} after the failure (Venice forbade deleting the key (403).`),
  ]);
  expect(main.state['key-id']).toBe(id); // so post will try again
});

test('an unexpected error is reported as one, with the stack only in the debug log, and leaves no key', async () => {
  const main = await mainInProcess({ inputs: bed.inputs(), fail: 'output' });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([
    'venice-ephemeral-key: unexpected error: ENOSPC: no space left on device, write. Please report it with the debug log.',
  ]);
  expect(main.stdout).toMatch(/::debug::Error: ENOSPC.*%0A\s+at /);
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('a job summary that cannot be written is a warning; the key is still good', async () => {
  const main = await mainInProcess({ inputs: bed.inputs(), fail: 'summary' });
  expect(main.exitCode).toBe(0);
  expect(main.warnings).toEqual([expect.stringContaining('could not write the job summary (ENOSPC')]);
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test('outside a runner (no GITHUB_REPOSITORY) it says so before any request', async () => {
  const main = await mainInProcess({ inputs: bed.inputs(), env: { GITHUB_REPOSITORY: '' } });
  expect(main.errors[0]).toContain('must run inside a GitHub Actions job');
  expect(bed.venice.requests).toEqual([]);
});
