// Which keys rotation may take from a preview slot, and how a PR number is read (core/ownership.ts):
// only older keys of the same PR and slot go, by hand-out time when both are known, else by run and
// attempt; a key from a later push always stays. A PR number is digits, 1 to 999,999,999, nothing else.
import { expect, test } from 'vitest';
import { isOlderInSlot, type KeyFacts, prFromRef, prNumberOf } from '../../core/ownership.ts';

const preview = (fields: Partial<KeyFacts> = {}): KeyFacts => ({
  scope: 'pr',
  pr: 7,
  slot: 'web',
  runId: '100',
  runAttempt: '1',
  handedOutAt: undefined,
  ...fields,
});

test.each([
  ['an earlier run of the slot', preview({ runId: '99' }), true],
  ['an earlier attempt of the same run', preview({ runAttempt: '1' }), true],
  ['the same run and attempt', preview({ runAttempt: '2' }), false],
  ['a later run (a later push minted it)', preview({ runId: '101' }), false],
  ['one handed out earlier, whatever its run', preview({ runId: '101', handedOutAt: 1_000 }), true],
  ['one handed out later, whatever its run', preview({ runId: '99', handedOutAt: 3_000 }), false],
  ["another slot's", preview({ runId: '99', slot: 'api' }), false],
  ["another PR's", preview({ runId: '99', pr: 8 }), false],
  ['a job key of the PR', preview({ runId: '99', scope: 'job', slot: undefined }), false],
])('rotation: %s', (_, facts, older) => {
  // The new key: run 100, attempt 2, handed out at 2 s (used only when the other's time is known too).
  const newer = preview({ runAttempt: '2', handedOutAt: facts.handedOutAt === undefined ? undefined : 2_000 });
  expect(isOlderInSlot(facts, newer)).toBe(older);
});

test('a PR number: digits (or #digits), 1 to 999,999,999; a ref names one only as refs/pull/N/merge or /head', () => {
  expect([7, '7', '#7', 999_999_999].map(prNumberOf)).toEqual([7, 7, 7, 999_999_999]);
  expect([0, '07', 1_000_000_000, 7.5, '7 ', null, ['7']].map(prNumberOf)).toEqual(Array(7).fill(undefined));
  expect(['refs/pull/7/merge', 'refs/pull/7/head'].map(prFromRef)).toEqual([7, 7]);
  expect(['refs/heads/main', 'refs/pull/7/merge/x', 'refs/pull/x/merge', undefined].map(prFromRef)).toEqual(Array(4).fill(undefined));
});
