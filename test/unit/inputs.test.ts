import { describe, expect, test } from 'vitest';
import { InputErrors } from '../../core/errors.ts';
import { KEY_REQUEST_DEFAULTS } from '../../core/key-request.ts';
import { runnerInputs, TEST_GITHUB_TOKEN } from '../../fakes/runner.ts';
import { readConfig } from '../../src/runner/inputs.ts';

/** Inputs as the runner hands them over: every declared input with its default, overridden by `given`. */
function inputs(given: Record<string, string>): (name: string) => string {
  const all = runnerInputs({ 'admin-key': 'VENICE_ADMIN_KEY_x', ...given });
  return (name) => {
    if (!(name in all)) throw new Error(`readConfig asked for undeclared input '${name}'`);
    return all[name]!;
  };
}

function errorsFor(given: Record<string, string>): string[] {
  try {
    readConfig(inputs(given));
  } catch (error) {
    if (error instanceof InputErrors) return error.errors.map((e) => e.message);
    throw error;
  }
  return [];
}

test('the defaults in action.yml make a valid config', () => {
  expect(readConfig(inputs({}))).toEqual({
    adminKey: 'VENICE_ADMIN_KEY_x',
    expiresInMs: 3_600_000,
    usdLimit: 1,
    diemLimit: 1,
    limitPeriod: 'EPOCH',
    modelPrivacy: undefined,
    label: '',
    verify: true,
    skipDelete: false,
    exportEnv: undefined,
    apiUrl: 'https://api.venice.ai/api/v1',
    brokerUrl: '',
    brokerAudience: '',
    timeoutMs: 300_000,
    failOnCleanupError: false,
    mode: 'mint',
    scope: 'job',
    slot: '',
    keyHandle: '',
    prNumber: undefined,
    rotate: false,
    dryRun: false,
    githubToken: TEST_GITHUB_TOKEN,
  });
});

test("the broker's defaults for a key request are action.yml's", () => {
  const declared = runnerInputs();
  expect(KEY_REQUEST_DEFAULTS).toEqual(Object.fromEntries(Object.keys(KEY_REQUEST_DEFAULTS).map((name) => [name, declared[name]])));
});

describe('limits', () => {
  test.each([
    ['0', 0],
    ['0.25', 0.25],
    ['9999999999', 9_999_999_999],
    ['unlimited', null],
    ['Unlimited', null],
    [' 5 ', 5],
  ])('%j → %j', (raw, value) => {
    expect(readConfig(inputs({ 'usd-limit': raw })).usdLimit).toBe(value);
    expect(readConfig(inputs({ 'diem-limit': raw })).diemLimit).toBe(value);
  });
  test.each(['', '-0.5', '1e3', '0x10', '10000000000', 'NaN', 'Infinity', '1,5'])('%j is refused', (raw) => {
    expect(errorsFor({ 'usd-limit': raw })).toEqual([expect.stringContaining("input 'usd-limit'")]);
  });
});

test.each([
  ['limit-period', 'month', 'limitPeriod', 'MONTH'],
  ['limit-period', 'Lifetime', 'limitPeriod', 'LIFETIME'],
  ['model-privacy', 'private_text', 'modelPrivacy', 'PRIVATE_TEXT'],
  ['model-privacy', '', 'modelPrivacy', undefined],
  ['verify', 'FALSE', 'verify', false],
  ['skip-delete', 'True', 'skipDelete', true],
  ['export-env', 'venice_key', 'exportEnv', 'venice_key'],
  ['api-url', 'http://127.0.0.1:8080/api/v1/', 'apiUrl', 'http://127.0.0.1:8080/api/v1'],
  ['api-url', 'http://localhost:1/x', 'apiUrl', 'http://localhost:1/x'],
  ['api-url', 'http://[::1]:1', 'apiUrl', 'http://[::1]:1'],
  ['api-url', 'https://venice.example.com', 'apiUrl', 'https://venice.example.com'],
  ['description', '  two\nlines\t here ', 'label', 'two lines here'],
  ['timeout', '90s', 'timeoutMs', 90_000],
  ['mode', 'Sweep', 'mode', 'sweep'],
  ['pr-number', '#42', 'prNumber', 42],
  ['pr-number', '7', 'prNumber', 7],
  ['dry-run', 'TRUE', 'dryRun', true],
  ['scope', 'RUN', 'scope', 'run'],
  ['scope', 'Pr', 'scope', 'pr'],
  ['mode', 'REVOKE', 'mode', 'revoke'],
] as const)('%s %j is read as %s = %j', (input, raw, field, value) => {
  expect(readConfig(inputs({ [input]: raw }))[field]).toEqual(value);
});

test.each([
  ['api-url', 'http://10.0.0.1/api/v1'],
  ['api-url', 'https://user:pass@api.venice.ai/api/v1'],
  ['api-url', 'https://api.venice.ai/api/v1?x=1'],
  ['api-url', 'ftp://api.venice.ai'],
  ['export-env', 'PATH'],
  ['export-env', 'RUNNER_TEMP'],
  ['export-env', '1KEY'],
  ['verify', ''],
  ['timeout', '7h'],
  ['mode', 'delete'],
  ['pr-number', '0'],
  ['pr-number', 'seven'],
  ['pr-number', '12345678901'],
  ['pr-number', '1234567890'],
  ['dry-run', 'sure'],
  ['timeout', '9s'],
  ['scope', 'workflow'],
  ['slot', 'x'.repeat(101)],
  ['key-handle', 'not-a-handle'],
])('%s %j is refused naming the input', (input, raw) => {
  expect(errorsFor({ [input]: raw })).toEqual([expect.stringContaining(`input '${input}'`)]);
});

test('admin-key is never repeated in its error', () => {
  expect(errorsFor({ 'admin-key': 'has space' })[0]).not.toContain('has space');
  expect(errorsFor({ 'admin-key': '   ' })[0]).toContain('a fork or Dependabot');
});

test.each([
  [{ mode: 'use' }, 'key-handle', 'mode use needs it'],
  [{ 'key-handle': 'vek1.1.abcdef01.AAAA' }, 'key-handle', 'only for mode use or revoke'],
  [{ rotate: 'true' }, 'rotate', 'set `scope: pr`'],
  [{ rotate: 'true', scope: 'run' }, 'rotate', 'set `scope: pr`'],
  [{ slot: 'web' }, 'slot', 'only for preview keys'],
])('%j: inputs that do not go together are refused, naming %s', (given, input, says) => {
  expect(errorsFor(given)).toEqual([expect.stringMatching(new RegExp(`^input '${input}': .*${says.replace(/[`()]/g, '.')}`))]);
});

test('a slot, a handle and pr scope with rotate that do go together are read as given', () => {
  expect(readConfig(inputs({ scope: 'pr', slot: 'web', rotate: 'true' }))).toMatchObject({ scope: 'pr', slot: 'web', rotate: true });
  expect(readConfig(inputs({ mode: 'revoke', 'key-handle': 'vek1.1.abcdef01.AAAA' })).keyHandle).toBe('vek1.1.abcdef01.AAAA');
});

test('the timeout error says what the minimum is', () => {
  expect(errorsFor({ timeout: '5s' })).toEqual([expect.stringContaining('at least 10s')]);
});

describe('broker-url', () => {
  test('with it, admin-key is not read and not needed', () => {
    const config = readConfig(
      inputs({ 'admin-key': '', 'broker-url': 'https://broker.example.com/', 'broker-audience': 'venice-key-broker' }),
    );
    expect(config).toMatchObject({ adminKey: '', brokerUrl: 'https://broker.example.com', brokerAudience: 'venice-key-broker' });
  });
  test.each([
    [
      { 'broker-url': 'http://broker.example.com' },
      `input 'broker-url': "http://broker.example.com" must use https: (plain http: is allowed only for loopback: 127.x.x.x, localhost and [::1]); e.g. "https://venice-broker.example.com".`,
    ],
    [
      { 'broker-url': 'https://broker.example.com' },
      "input 'broker-audience': is empty, and broker-url needs it: set the audience your broker's config names, e.g. `broker-audience: venice-key-broker`.",
    ],
    [
      { 'broker-url': 'https://broker.example.com', 'broker-audience': 'has space' },
      `input 'broker-audience': "has space" is not an audience: one word or URL without spaces; e.g. "venice-key-broker".`,
    ],
  ])('%j is refused before any request', (given, message) => {
    expect(errorsFor({ 'admin-key': '', ...given })).toEqual([message]);
  });
  test.each([
    [{ mode: 'sweep' }, { mode: 'sweep' }],
    [{ mode: 'revoke' }, { mode: 'revoke' }],
    [
      { scope: 'pr', rotate: 'true' },
      { scope: 'pr', rotate: true },
    ],
  ] as [Record<string, string>, Record<string, unknown>][])(
    'the preview lifecycle (%j) goes through the broker, with no admin key',
    (given, read) => {
      const config = readConfig(inputs({ 'admin-key': '', 'broker-url': 'https://broker.example.com', 'broker-audience': 'a', ...given }));
      expect(config).toMatchObject({ adminKey: '', brokerUrl: 'https://broker.example.com', ...read });
    },
  );
});
