import { expect, test } from 'vitest';
import { ceilingText, periodsTouched, spendCeiling } from '../../core/spend.ts';

const at = (iso: string): number => Date.parse(iso);
const HOUR = 3_600_000;

test.each([
  ['EPOCH', '2026-11-26T10:00:00Z', 1, 1],
  ['EPOCH', '2026-11-26T23:30:00Z', 1, 2], // across 00:00 UTC: two days, twice the cap
  ['EPOCH', '2026-11-26T23:00:00Z', 1, 1], // ends exactly at midnight: one day
  ['EPOCH', '2026-11-26T10:00:00Z', 7 * 24, 8],
  ['MONTH', '2026-11-30T23:30:00Z', 1, 2],
  ['MONTH', '2026-11-01T00:00:00Z', 24 * 29, 1],
  ['MONTH', '2026-12-31T12:00:00Z', 24 * 366, 14],
  ['LIFETIME', '2026-11-26T23:30:00Z', 24 * 366, 1],
] as const)('%s from %s for %i h touches %i period(s)', (period, from, hours, expected) => {
  expect(periodsTouched(period, at(from), at(from) + hours * HOUR)).toBe(expected);
});

test('the ceiling is the cap times the periods touched, and says so', () => {
  const from = at('2026-11-26T23:30:00Z');
  const ceiling = spendCeiling({ cap: 1.5, period: 'EPOCH', fromMs: from, toMs: from + HOUR });
  expect(ceiling).toEqual({ cap: 1.5, period: 'EPOCH', most: 3, periods: 2 });
  expect(ceilingText(ceiling, 'USD')).toBe('3 USD (1.5 per UTC day; its life touches 2 UTC days)');
  expect(ceilingText(spendCeiling({ cap: 1, period: 'EPOCH', fromMs: from, toMs: from + 60_000 }), 'USD')).toBe(
    '1 USD (1 per UTC day; its life touches 1 UTC day)',
  );
  expect(ceilingText(spendCeiling({ cap: 2, period: 'LIFETIME', fromMs: from, toMs: from + HOUR }), 'DIEM')).toBe(
    '2 DIEM (a lifetime cap)',
  );
  expect(ceilingText(spendCeiling({ cap: null, period: 'MONTH', fromMs: from, toMs: from + HOUR }), 'USD')).toBe(
    'no cap: the key can spend USD without limit',
  );
  expect(spendCeiling({ cap: 0.1, period: 'EPOCH', fromMs: from, toMs: from + 3 * 24 * HOUR }).most).toBe(0.4);
});
