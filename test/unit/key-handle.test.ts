import { expect, test } from 'vitest';
import { handleAdviceForCaller } from '../../broker/src/keys/handle-advice.ts';
import { HandleRefused, type HandleWording, openHandle, openRunKey, sealHandle } from '../../core/key-handle.ts';
import { handleAdviceForWorkflow } from '../../src/runner/handle-advice.ts';

const binding = { adminKey: 'VENICE_ADMIN_KEY_unit', repository: 'octo-org/shop', runId: '42' };
const contents = {
  apiKey: 'VENICE_INFERENCE_KEY_secret_value_0123456789',
  keyId: 'id-1',
  expiresAt: '2031-01-01T00:00:00.000Z',
  description: 'x',
};

function refusal(handle: string, changed: Partial<typeof binding> = {}, word: HandleWording = handleAdviceForWorkflow): string {
  try {
    openHandle(handle, { ...binding, ...changed }, word);
  } catch (error) {
    expect(error).toBeInstanceOf(HandleRefused);
    return `${(error as HandleRefused).problem}: ${(error as Error).message}`;
  }
  throw new Error('expected the handle to be refused');
}

test('a sealed handle opens in its repository and run (any case of the name), and holds no secret in clear', () => {
  const handle = sealHandle(contents, binding);
  expect(openHandle(handle, binding, handleAdviceForWorkflow)).toEqual(contents);
  expect(openHandle(handle, { ...binding, repository: 'Octo-Org/Shop' }, handleAdviceForWorkflow)).toEqual(contents);
  expect(handle).not.toContain(contents.apiKey);
  expect(handle).not.toContain(binding.adminKey);
  expect(sealHandle(contents, binding)).not.toBe(handle); // a fresh IV each time
});

test('every way a handle can be wrong is refused as its own kind', () => {
  const handle = sealHandle(contents, binding);
  expect(refusal(handle, { runId: '43' })).toMatch(/^other-run: /);
  expect(refusal(handle, { repository: 'octo-org/other' })).toMatch(/^other-repository: /);
  expect(refusal(handle, { adminKey: 'VENICE_ADMIN_KEY_other' })).toMatch(/^not-opened: /);
  expect(refusal(handle.slice(0, -1))).toMatch(/^(not-opened|cut-short): /);
  expect(refusal('vek1.42.0000')).toMatch(/^cut-short: /);
  // The clear header is authenticated: moving a handle to another run by editing it does not work.
  const moved = handle.replace('vek1.42.', 'vek1.43.');
  expect(refusal(moved, { runId: '43' })).toMatch(/^not-opened: /);
  const flipped = `${handle.slice(0, 20)}${handle[20] === 'A' ? 'B' : 'A'}${handle.slice(21)}`;
  expect(refusal(flipped)).toMatch(/^(not-opened|other-repository): /);
  // A handle that opens but holds a job key (sealed by hand here) is not a run key.
  const jobKey = sealHandle({ ...contents, description: 'x vek:octo-org/shop job r42.1 abcdef' }, binding);
  expect(() => openRunKey(jobKey, binding, () => undefined, handleAdviceForWorkflow)).toThrow(/^key-handle does not hold this run's key/);
});

// Core says which problem and has no words of its own; each program words it for its reader: a workflow holding admin-key, or a
// broker caller holding only a token.
test.each([
  [
    'a workflow',
    handleAdviceForWorkflow,
    [
      'made in run 42, and this is run 43. A handle works only',
      'not octo-org/other. A handle works only',
      'or admin-key is not the admin key',
      "pass the minting job's `key-handle` output unchanged.",
    ],
  ],
  [
    'a broker caller',
    handleAdviceForCaller,
    [
      "made in run 42, and this is run 43 (this token's)",
      "not octo-org/other (this token's)",
      'not minted through this broker',
      "send the minting job's key-handle output unchanged.",
    ],
  ],
] as const)('a refused handle is worded for %s', (_, word, said) => {
  const handle = sealHandle(contents, binding);
  const refusals = [
    refusal(handle, { runId: '43' }, word),
    refusal(handle, { repository: 'octo-org/other' }, word),
    refusal(handle, { adminKey: 'VENICE_ADMIN_KEY_other' }, word),
    refusal('vek1.42.0000', {}, word),
  ];
  for (const [index, text] of refusals.entries()) expect(text).toContain(said[index]);
  const jobKey = sealHandle({ ...contents, description: 'x vek:octo-org/shop job r42.1 abcdef' }, binding);
  expect(() => openRunKey(jobKey, binding, () => undefined, word)).toThrow(/does not hold this run's key/);
});
