// Venice's listing read entry by entry (core/venice-api.ts): what is not a key we could own is dropped,
// what is missing takes a harmless default, and spend figures that are not non-negative numbers count as
// nothing spent. Venice is trusted no further than its answers look like the spec says.
import { expect, test } from 'vitest';
import { amount, isoDate, listedKey } from '../../core/venice-api.ts';

const ID = '0b6cbd4c-8d77-4a0a-9a4b-1d2c3e4f5a6b';

test.each([
  ['not an object', 'a string', undefined],
  ['null', null, undefined],
  ['an id that is not a UUID', { id: 'key 1; rm -rf' }, undefined],
  ['an expiry that is not a date', { id: ID, expiresAt: 'next week' }, undefined],
  [
    'a key that never expires, with nothing else said',
    { id: ID, expiresAt: null },
    { id: ID, description: '', expiresAt: null, createdAt: null, apiKeyType: '' },
  ],
  [
    'an offset date and usage as strings',
    {
      id: ID,
      description: 'ci vek:x',
      expiresAt: '2031-01-01T02:00:00+02:00',
      createdAt: '2030-12-31',
      apiKeyType: 'INFERENCE',
      usage: { trailingSevenDays: { usd: '0.4200', diem: '1' } },
      currentPeriodUsage: { usd: 0.1, diem: '-3' },
    },
    {
      id: ID,
      description: 'ci vek:x',
      expiresAt: '2031-01-01T00:00:00.000Z',
      createdAt: '2030-12-31T00:00:00.000Z',
      apiKeyType: 'INFERENCE',
      spent: { usd: 0.42, diem: 1 },
      currentPeriod: { usd: 0.1, diem: 0 },
    },
  ],
  [
    'a description, type and period usage of the wrong kinds',
    { id: ID, expiresAt: undefined, description: 7, apiKeyType: ['ADMIN'], createdAt: 'soon', currentPeriodUsage: 'lots' },
    { id: ID, description: '', expiresAt: null, createdAt: null, apiKeyType: '' },
  ],
])('a listed entry that is %s', (_, entry, read) => {
  expect(listedKey(entry)).toEqual(read);
});

test('amounts: strings and numbers that are not negative; anything else is nothing spent', () => {
  expect([
    amount('0.4200'),
    amount(3),
    amount('1e9'),
    amount('-1'),
    amount(-2),
    amount(Number.NaN),
    amount(Infinity),
    amount(null),
  ]).toEqual([0.42, 3, 0, 0, 0, 0, 0, 0]);
});

test('dates: an ISO 8601 day or time, normalised to UTC; an impossible day is no date', () => {
  expect(isoDate('2031-01-01T00:00Z')).toBe('2031-01-01T00:00:00.000Z');
  expect(isoDate('2031-01-01T01:00:00.5+0100')).toBe('2031-01-01T00:00:00.500Z');
  expect(isoDate('2031-13-45')).toBeUndefined();
});
