import { expect, test } from 'vitest';
import { formatDuration, parseDuration } from '../../core/duration.ts';

test.each([
  ['90s', 90_000],
  ['45m', 2_700_000],
  ['2h30m', 9_000_000],
  ['7d', 604_800_000],
  ['1d2h3m4s', 93_784_000],
])('%s is %i ms', (text, ms) => {
  expect(parseDuration(text)).toBe(ms);
});

test.each(['', '0s', '0d0h', '1', 'h', '30m2h', '1.5h', '-1h', '1H', ' 1h', '1h ', '1w', '99999999999999999999d'])(
  '%j is not a duration',
  (text) => {
    expect(parseDuration(text)).toBeUndefined();
  },
);

test('formatDuration is short and readable', () => {
  expect(formatDuration(1_234)).toBe('1.2s');
  expect(formatDuration(300_000)).toBe('5m');
  expect(formatDuration(5_400_000)).toBe('1h 30m');
  expect(formatDuration(90_061_000)).toBe('1d 1h 1m 1s');
});
