import { expect, test } from 'vitest';
import { newTag } from '../../core/description-tag.ts';
import { InputError, messageOf } from '../../core/errors.ts';
import { readConfig } from '../../src/runner/inputs.ts';

test('messageOf gives a message for anything thrown', () => {
  expect(messageOf(new Error('boom'))).toBe('boom');
  expect(messageOf(new TypeError())).toBe('TypeError');
  expect(messageOf('plain string')).toBe('plain string');
  expect(new InputError('verify', 'bad').message).toBe("input 'verify': bad");
});

test('a failure to read inputs is not mistaken for a bad input', () => {
  const broken = new Error('runner gave no inputs');
  expect(() =>
    readConfig(() => {
      throw broken;
    }),
  ).toThrow(broken);
});

test('a tag that cannot fit is a bug, reported as such', () => {
  expect(() => newTag('a/b', { pr: 1, scope: 'job', slot: undefined, runId: '1'.repeat(60), runAttempt: '1', token: 'abcdef' })).toThrow(
    /longer than Venice's 64 characters/,
  );
});
