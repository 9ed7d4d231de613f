import { expect, test } from 'vitest';
import {
  buildDescription,
  formatTag,
  isSameInvocation,
  isTagOfRepository,
  type KeyTag,
  newInvocationToken,
  parseTag,
  repoToken,
} from '../../src/description-tag.ts';

const tag: KeyTag = { repo: 'octo-org/shop', pr: 7, runId: '18234567890', runAttempt: '2', token: 'k3f9a2' };

test('the tag reads well and parses back', () => {
  expect(formatTag(tag)).toBe('vek:octo-org/shop#7 r18234567890.2 k3f9a2');
  expect(parseTag(`preview deploy ${formatTag(tag)}`)).toEqual(tag);
  expect(parseTag(formatTag({ ...tag, pr: undefined }))).toEqual({ ...tag, pr: undefined });
});

test('descriptions without the tag, or with it anywhere but the end, are not ours', () => {
  expect(parseTag('my own key')).toBeUndefined();
  expect(parseTag(`${formatTag(tag)} edited later`)).toBeUndefined();
  expect(parseTag(null)).toBeUndefined();
  expect(parseTag('vek:octo-org/shop#7 r1.1 K3F9A2')).toBeUndefined();
});

test('a long label is cut to fit 64 characters; the tag never is', () => {
  const { description, labelTruncated } = buildDescription('x'.repeat(100), tag);
  expect(description.length).toBe(64);
  expect(description.endsWith(` ${formatTag(tag)}`)).toBe(true);
  expect(labelTruncated).toBe(true);
  expect(buildDescription('', tag)).toEqual({ description: formatTag(tag), labelTruncated: false });
  expect(buildDescription('short', tag)).toEqual({ description: `short ${formatTag(tag)}`, labelTruncated: false });
});

test('long repository names are shortened with a hash, the same way every time', () => {
  const long = 'a-very-long-organisation/an-even-longer-repository-name';
  const token = repoToken(long);
  expect(token.length).toBeLessThanOrEqual(24);
  expect(token).toMatch(/^an-even-longer-re~[0-9a-f]{6}$/);
  expect(repoToken(long)).toBe(token);
  expect(repoToken('another-organisation-x/an-even-longer-repository-name')).not.toBe(token);
  expect(repoToken('octo-org/shop')).toBe('octo-org/shop');
});

test('the worst realistic tag still fits, with room for no label', () => {
  const worst: KeyTag = {
    repo: repoToken(`${'o'.repeat(39)}/${'r'.repeat(100)}`),
    pr: 9_999_999,
    runId: '999999999999',
    runAttempt: '999',
    token: 'zzzzzz',
  };
  expect(formatTag(worst).length).toBeLessThanOrEqual(64);
  expect(parseTag(buildDescription('label', worst).description)).toEqual(worst);
});

test('invocation and PR matching', () => {
  const description = `label ${formatTag(tag)}`;
  expect(isSameInvocation(description, tag)).toBe(true);
  expect(isSameInvocation(description, { ...tag, token: 'zzzzzz' })).toBe(false);
  expect(isSameInvocation(description, { ...tag, runAttempt: '1' })).toBe(false);
  const parsed = parseTag(description)!;
  expect(isTagOfRepository(parsed, 'octo-org/shop')).toBe(true);
  expect(isTagOfRepository(parsed, 'Octo-Org/Shop')).toBe(true);
  expect(isTagOfRepository(parsed, 'octo-org/other')).toBe(false);
  const long = 'a-very-long-organisation/an-even-longer-repository-name';
  expect(isTagOfRepository({ ...parsed, repo: repoToken(long) }, long.toUpperCase())).toBe(true); // the hash is of the lower-cased name
  expect(isTagOfRepository({ ...parsed, repo: repoToken(long) }, long)).toBe(true);
});

test('invocation tokens are six lower-case base-36 characters', () => {
  const tokens = new Set(Array.from({ length: 200 }, newInvocationToken));
  for (const token of tokens) expect(token).toMatch(/^[0-9a-z]{6}$/);
  expect(tokens.size).toBeGreaterThan(195);
});
