import { expect, test } from 'vitest';
import {
  buildDescription,
  DESCRIPTION_MAX,
  formatTag,
  hasTag,
  isTagOfRepository,
  type KeyTag,
  newInvocationToken,
  newTag,
  parseTag,
  repoToken,
  slotToken,
} from '../../core/description-tag.ts';

const fields = { pr: 7, scope: 'pr', slot: 'web', runId: '18234567890', runAttempt: '2', token: 'k3f9a2' } as const;
const tag: KeyTag = newTag('octo-org/shop', fields);

test('the tag reads well and parses back, for every scope', () => {
  expect(formatTag(tag)).toBe('vek:octo-org/shop#7 pr:web r18234567890.2 k3f9a2');
  expect(parseTag(`preview deploy ${formatTag(tag)}`)).toEqual(tag);
  for (const scope of ['job', 'kept', 'run'] as const) {
    const other = newTag('octo-org/shop', { ...fields, pr: undefined, scope, slot: undefined });
    expect(formatTag(other)).toBe(`vek:octo-org/shop ${scope} r18234567890.2 k3f9a2`);
    expect(parseTag(formatTag(other))).toEqual(other);
  }
});

test('descriptions without the tag, or with it anywhere but the end, are not ours', () => {
  expect(parseTag('my own key')).toBeUndefined();
  expect(parseTag(`${formatTag(tag)} edited later`)).toBeUndefined();
  expect(parseTag(null)).toBeUndefined();
  expect(parseTag('vek:octo-org/shop#7 pr:web r1.1 K3F9A2')).toBeUndefined();
  expect(parseTag('vek:octo-org/shop#7 r1.1 k3f9a2')).toBeUndefined(); // no scope: not this version's tag
  expect(parseTag('vek:octo-org/shop#7 admin r1.1 k3f9a2')).toBeUndefined();
  expect(parseTag('xvek:octo-org/shop job r1.1 k3f9a2')).toBeUndefined();
});

test('a long label is cut to fit 64 characters; the tag never is', () => {
  const { description, labelTruncated } = buildDescription('x'.repeat(100), tag);
  expect(description.length).toBe(64);
  expect(description.endsWith(` ${formatTag(tag)}`)).toBe(true);
  expect(labelTruncated).toBe(true);
  expect(buildDescription('', tag)).toEqual({ description: formatTag(tag), labelTruncated: false });
  expect(buildDescription('short', tag)).toEqual({ description: `short ${formatTag(tag)}`, labelTruncated: false });
});

test('a label is cut between whole characters: never half an emoji or a lone surrogate', () => {
  const room = DESCRIPTION_MAX - formatTag(tag).length - 1;
  for (const label of [
    '🚀'.repeat(40),
    `${'a'.repeat(room - 1)}🚀🚀`,
    `${'b'.repeat(room - 2)}👩‍👩‍👧 more`,
    'é'.repeat(5).normalize('NFD').repeat(10),
  ]) {
    const { description } = buildDescription(label, tag);
    expect(description.length).toBeLessThanOrEqual(64);
    expect(description.isWellFormed()).toBe(true);
    expect(label.startsWith(description.slice(0, description.length - formatTag(tag).length - 1))).toBe(true);
  }
});

test('long repository names are shortened with a 12-character hash (62 bits), the same way every time', () => {
  const long = 'a-very-long-organisation/an-even-longer-repository-name';
  const token = repoToken(long);
  expect(token.length).toBeLessThanOrEqual(20);
  expect(token).toMatch(/^an-even~[0-9a-z]{12}$/);
  expect(repoToken(long)).toBe(token);
  expect(repoToken('another-organisation-x/an-even-longer-repository-name')).not.toBe(token);
  expect(repoToken('octo-org/shop')).toBe('octo-org/shop');
});

test('slots are kept when short and plain, hashed otherwise', () => {
  expect(slotToken('web')).toBe('web');
  expect(slotToken('api-v2_x')).toBe('api-v2_x');
  expect(slotToken('deploy-preview')).toMatch(/^~[0-9a-z]{7}$/);
  expect(slotToken('node 20')).toMatch(/^~[0-9a-z]{7}$/);
  expect(slotToken('deploy-preview')).not.toBe(slotToken('deploy-previeW'));
});

test('the worst tag still fits: the repository is shown by its hash alone when it must', () => {
  // The longest of everything at once, with a 12-digit run id (GitHub's are 11 digits today).
  const worst = newTag(`${'o'.repeat(39)}/${'r'.repeat(100)}`, {
    pr: 999_999_999,
    scope: 'pr',
    slot: slotToken('a slot name that is far too long'),
    runId: '999999999999',
    runAttempt: '999',
    token: 'zzzzzz',
  });
  expect(formatTag(worst).length).toBeLessThanOrEqual(64);
  expect(worst.repo).toMatch(/^~[0-9a-z]{12}$/);
  expect(parseTag(buildDescription('label', worst).description)).toEqual(worst);
  expect(isTagOfRepository(worst, `${'o'.repeat(39)}/${'r'.repeat(100)}`)).toBe(true);
  expect(isTagOfRepository(worst, `${'o'.repeat(39)}/${'r'.repeat(99)}`)).toBe(false);
  // A 13-digit run id on top would need 65 characters: refused, never cut short.
  expect(() => newTag(`${'o'.repeat(39)}/${'r'.repeat(100)}`, { ...worst, runId: '9999999999999' })).toThrow(
    /longer than Venice's 64 characters/,
  );
});

test('the hash is spread over all 36 characters in every position (no position stuck at a few values)', () => {
  const firsts = new Set<string>();
  for (let i = 0; i < 400; i++) firsts.add(repoToken(`octo-org/a-repository-name-long-enough-${i}`).split('~')[1]?.[0] ?? '');
  expect(firsts.size).toBeGreaterThan(30);
});

test('exact matching: the same invocation, and this repository only', () => {
  const description = `label ${formatTag(tag)}`;
  expect(hasTag(description, tag)).toBe(true);
  expect(hasTag(description, { ...tag, token: 'zzzzzz' })).toBe(false);
  expect(hasTag(description, { ...tag, runAttempt: '1' })).toBe(false);
  expect(hasTag(description, { ...tag, slot: 'api' })).toBe(false);
  const parsed = parseTag(description)!;
  expect(isTagOfRepository(parsed, 'octo-org/shop')).toBe(true);
  expect(isTagOfRepository(parsed, 'Octo-Org/Shop')).toBe(true);
  expect(isTagOfRepository(parsed, 'octo-org/other')).toBe(false);
  expect(isTagOfRepository(parsed, 'octo-org/sho')).toBe(false);
  const long = 'a-very-long-organisation/an-even-longer-repository-name';
  expect(isTagOfRepository({ ...parsed, repo: repoToken(long) }, long.toUpperCase())).toBe(true); // the hash is of the lower-cased name
  expect(isTagOfRepository({ ...parsed, repo: repoToken(long) }, long)).toBe(true);
  expect(isTagOfRepository({ ...parsed, repo: repoToken(long) }, 'a-very-long-organisation/an-even-longer-repository-nam3')).toBe(false);
});

test('invocation tokens are six lower-case base-36 characters', () => {
  const tokens = new Set(Array.from({ length: 200 }, newInvocationToken));
  for (const token of tokens) expect(token).toMatch(/^[0-9a-z]{6}$/);
  expect(tokens.size).toBeGreaterThan(195);
});
