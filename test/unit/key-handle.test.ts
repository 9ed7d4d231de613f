import { expect, test } from 'vitest';
import { ActionFailure } from '../../core/errors.ts';
import { openHandle, sealHandle } from '../../core/key-handle.ts';

const binding = { adminKey: 'VENICE_ADMIN_KEY_unit', repository: 'octo-org/shop', runId: '42' };
const contents = {
  apiKey: 'VENICE_INFERENCE_KEY_secret_value_0123456789',
  keyId: 'id-1',
  expiresAt: '2031-01-01T00:00:00.000Z',
  description: 'x',
};

function refusal(handle: string, changed: Partial<typeof binding> = {}): string {
  try {
    openHandle(handle, { ...binding, ...changed });
  } catch (error) {
    expect(error).toBeInstanceOf(ActionFailure);
    return (error as Error).message;
  }
  throw new Error('expected the handle to be refused');
}

test('a sealed handle opens in its repository and run (any case of the name), and holds no secret in clear', () => {
  const handle = sealHandle(contents, binding);
  expect(openHandle(handle, binding)).toEqual(contents);
  expect(openHandle(handle, { ...binding, repository: 'Octo-Org/Shop' })).toEqual(contents);
  expect(handle).not.toContain(contents.apiKey);
  expect(handle).not.toContain(binding.adminKey);
  expect(sealHandle(contents, binding)).not.toBe(handle); // a fresh IV each time
});

test('every way a handle can be wrong is refused with its own explanation', () => {
  const handle = sealHandle(contents, binding);
  expect(refusal(handle, { runId: '43' })).toMatch(/made in run 42, and this is run 43/);
  expect(refusal(handle, { repository: 'octo-org/other' })).toMatch(/made in another repository/);
  expect(refusal(handle, { adminKey: 'VENICE_ADMIN_KEY_other' })).toMatch(/could not be opened/);
  expect(refusal(handle.slice(0, -1))).toMatch(/could not be opened|cut short/);
  expect(refusal('vek1.42.0000')).toMatch(/cut short or altered/);
  // The clear header is authenticated: moving a handle to another run by editing it does not work.
  const moved = handle.replace('vek1.42.', 'vek1.43.');
  expect(refusal(moved, { runId: '43' })).toMatch(/could not be opened/);
  const flipped = `${handle.slice(0, 20)}${handle[20] === 'A' ? 'B' : 'A'}${handle.slice(21)}`;
  expect(refusal(flipped)).toMatch(/could not be opened|another repository/);
});
