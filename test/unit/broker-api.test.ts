// The caps a broker's answer says it granted (core/broker-api.ts, readGranted): each one read on its own,
// as the inputs write it; one missing or malformed is left out (the summary then shows the request's),
// never guessed, and nothing of another type is coerced.
import { expect, test } from 'vitest';
import { readGranted } from '../../core/broker-api.ts';

test.each([
  [
    'every cap, as the inputs write them',
    { 'usd-limit': '2.5', 'diem-limit': 'unlimited', 'limit-period': 'MONTH', 'model-privacy': 'PRIVATE_ONLY', 'expires-in': '3600s' },
    { usdLimit: 2.5, diemLimit: null, limitPeriod: 'MONTH', modelPrivacy: 'PRIVATE_ONLY' },
  ],
  ['no privacy asked for', { 'model-privacy': '' }, { modelPrivacy: undefined }],
  [
    'values of the wrong kinds or out of range',
    { 'usd-limit': 5, 'diem-limit': '-1', 'limit-period': 'month', 'model-privacy': 'NONE' },
    {},
  ],
  ['a limit past the largest', { 'usd-limit': '99999999999' }, {}],
  ['a limit that is not a number', { 'usd-limit': '1e3', 'diem-limit': 'lots' }, {}],
  ['no mapping at all', null, {}],
  ['a string', 'granted', {}],
])('granted: %s', (_, granted, read) => {
  expect(readGranted(granted)).toEqual(read);
});
