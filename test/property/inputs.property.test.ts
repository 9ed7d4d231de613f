// Property tests over every input: thousands of generated values, each either a valid config whose
// create body fits Venice's spec, or one clear input error; never a crash, never a request.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildDescription, newTag } from '../../core/description-tag.ts';
import { InputErrors } from '../../core/errors.ts';
import { keyRequestFields, readKeyRequest } from '../../core/key-request.ts';
import { createKeyBody } from '../../core/venice-api.ts';
import { actionInputs, runnerInputs } from '../../fakes/runner.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { loadVeniceSchemas, type VeniceSchemas } from '../../fakes/venice-spec.ts';
import { type Config, readConfig } from '../../src/runner/inputs.ts';
import { mainInProcess, postInProcess } from '../support/in-process.ts';

const durations = fc.oneof(
  fc.constantFrom('1h', '90s', '2h30m', '7d', '366d', '367d', '0s', '', '1H', '1.5h', 'never', '-1h'),
  fc.stringMatching(/^(\d{1,4}d)?(\d{1,3}h)?(\d{1,3}m)?(\d{1,3}s)?$/),
  fc.string(),
);
const limits = fc.oneof(
  fc.constantFrom('0', '1', '0.5', 'unlimited', 'UNLIMITED', '9999999999', '10000000000', '-1', '1e3', 'NaN', ''),
  fc.double({ min: 0, max: 2e10, noNaN: true }).map(String),
  fc.stringMatching(/^\d{1,11}(\.\d{1,4})?$/),
  fc.string(),
);
const booleans = fc.oneof(fc.constantFrom('true', 'false', 'True', 'FALSE', 'yes', '1', ''), fc.string());
const enumLike = (values: string[]) => fc.oneof(fc.constantFrom(...values, ...values.map((v) => v.toLowerCase()), ''), fc.string());

const inputValues = {
  'admin-key': fc.oneof(fc.constant('VENICE_ADMIN_KEY_ok'), fc.constantFrom('', '  ', 'a b', 'VENICE_ADMIN_KEY_with space'), fc.string()),
  'expires-in': durations,
  'usd-limit': limits,
  'diem-limit': limits,
  'limit-period': enumLike(['EPOCH', 'MONTH', 'LIFETIME', 'WEEK']),
  'model-privacy': enumLike(['ALL', 'PRIVATE_TEXT', 'PRIVATE_ONLY', 'NONE']),
  description: fc.oneof(fc.string(), fc.string({ unit: 'grapheme', maxLength: 100 }), fc.constant('x'.repeat(200))),
  verify: booleans,
  'skip-delete': booleans,
  'export-env': fc.oneof(fc.constantFrom('', 'VENICE_API_KEY', 'PATH', 'GITHUB_TOKEN', '1A', 'A-B'), fc.string()),
  'api-url': fc.oneof(
    fc.constantFrom('https://api.venice.ai/api/v1', 'http://127.0.0.1:1/api/v1', 'http://example.com', 'ftp://x', 'not a url', ''),
    fc.webUrl(),
    fc.string(),
  ),
  'broker-url': fc.oneof(
    fc.constantFrom('', 'https://broker.example.com', 'http://127.0.0.1:8080', 'http://broker.example.com', 'not a url'),
    fc.webUrl(),
    fc.string(),
  ),
  'broker-audience': fc.oneof(fc.constantFrom('', 'venice-key-broker', 'has space'), fc.string()),
  timeout: durations,
  'fail-on-cleanup-error': booleans,
  mode: enumLike(['MINT', 'USE', 'REVOKE', 'SWEEP', 'DELETE']),
  scope: enumLike(['JOB', 'RUN', 'PR', 'WORKFLOW']),
  slot: fc.oneof(fc.constantFrom('', 'web', 'deploy-preview', 'x'.repeat(101), 'a\nb'), fc.string()),
  'key-handle': fc.oneof(fc.constantFrom('', 'vek1.1.abcdef01.AAAA', 'not-a-handle'), fc.string()),
  'pr-number': fc.oneof(fc.constantFrom('', '7', '#7', '0', '-1', '1.5', '99999999999'), fc.nat().map(String), fc.string()),
  rotate: booleans,
  'dry-run': booleans,
  'github-token': fc.oneof(fc.constantFrom('', 'ghs_x'), fc.string()),
};

test('the generators cover every input in action.yml', () => {
  expect(Object.keys(inputValues).sort()).toEqual(Object.keys(actionInputs()).sort());
});

const schemas: VeniceSchemas = loadVeniceSchemas();
const tag = newTag('octo-org/shop', { pr: 123, scope: 'pr', slot: 'web', runId: '18234567890', runAttempt: '1', token: 'abc123' });

test('any input values: a config whose create body fits the spec, or input errors naming each bad input', () => {
  fc.assert(
    fc.property(fc.record(inputValues), (raw) => {
      let config: Config;
      try {
        config = readConfig((name) => raw[name as keyof typeof raw]);
      } catch (error) {
        expect(error).toBeInstanceOf(InputErrors);
        for (const inputError of (error as InputErrors).errors) {
          expect(Object.keys(inputValues)).toContain(inputError.input);
          expect(inputError.message).toMatch(/^input '[a-z-]+': .+/);
          // The admin key is never repeated (a key shorter than 8 characters could occur in any sentence).
          const adminKey = raw['admin-key'].trim();
          if (inputError.input === 'admin-key' && adminKey.length >= 8) expect(inputError.message).not.toContain(adminKey);
        }
        return;
      }
      const { description } = buildDescription(config.label, tag);
      const body = createKeyBody(config, description, Date.now());
      expect(schemas.createRequest(body), schemas.describe(schemas.createRequest)).toBe(true);
      expect(body.apiKeyType).toBe('INFERENCE');
    }),
    { numRuns: 3_000 },
  );
});

test('a key request written as fields reads back the same: what the action sends is what the broker reads', () => {
  fc.assert(
    fc.property(fc.record(inputValues), (raw) => {
      let config: Config;
      try {
        config = readConfig((name) => raw[name as keyof typeof raw]);
      } catch {
        return;
      }
      const fields = keyRequestFields(config);
      const request = readKeyRequest((name) => fields[name]);
      expect(request).toEqual(Object.fromEntries(Object.keys(request).map((name) => [name, config[name as keyof Config]])));
    }),
    { numRuns: 2_000 },
  );
});

let server: VeniceServer;
beforeAll(async () => {
  server = await new VeniceServer({ createLimit: { count: 100_000, windowMs: 60_000 } }).start();
});
afterAll(async () => {
  await server.stop();
});

test('the whole main step: invalid input sends no request and fails with one error; valid input mints a key Venice accepts', async () => {
  let validRuns = 0;
  // Half the runs draw each input from its valid values only, so both branches are well exercised.
  const validOnly = fc.record({
    'expires-in': fc.constantFrom('1h', '90s', '2h30m', '7d'),
    'usd-limit': fc.constantFrom('0', '0.5', 'unlimited', '9999999999'),
    'diem-limit': fc.constantFrom('1', 'Unlimited', '0'),
    'limit-period': fc.constantFrom('epoch', 'MONTH', 'Lifetime'),
    'model-privacy': fc.constantFrom('', 'all', 'PRIVATE_TEXT', 'private_only'),
    description: inputValues.description,
    verify: fc.constantFrom('true', 'false'),
    'skip-delete': fc.constantFrom('true', 'false'),
    'export-env': fc.constantFrom('', 'VENICE_API_KEY'),
    timeout: fc.constantFrom('5m', '30s', '10s'),
    'fail-on-cleanup-error': fc.constantFrom('true', 'false'),
  });
  const { 'admin-key': _admin, 'api-url': _url, ...anyValues } = inputValues;
  await fc.assert(
    fc.asyncProperty(fc.oneof(validOnly, fc.record(anyValues)), async (raw) => {
      // The admin key and URL are always the test server's: no generated value may send a request elsewhere.
      // Minting only: the PR modes have scenario tests of their own.
      const inputs: Record<string, string> = {
        ...raw,
        'admin-key': server.adminKey,
        'api-url': server.apiUrl,
        mode: 'mint',
        scope: 'job',
        slot: '',
        'key-handle': '',
        rotate: 'false',
        'pr-number': '',
      };
      let skipDelete = false;
      let valid = true;
      try {
        // As the runner does: inputs not given take their action.yml default.
        const passed = runnerInputs(inputs);
        skipDelete = readConfig((name) => passed[name] ?? '').skipDelete;
      } catch {
        valid = false;
      }
      const before = server.requests.length;
      const main = await mainInProcess({ inputs });
      if (!valid) {
        expect(server.requests.length).toBe(before);
        expect(main.errors).toHaveLength(1);
        expect(main.stdout).not.toMatch(/\n\s+at /);
        return;
      }
      validRuns++;
      expect(main.exitCode, main.stdout).toBe(0);
      const post = await postInProcess({ inputs, state: main.state });
      expect(post.exitCode).toBe(0);
      expect(server.keys.has(main.outputs['key-id']!)).toBe(skipDelete);
    }),
    { numRuns: 300 },
  );
  expect(validRuns).toBeGreaterThan(50);
  // Every create the server accepted validated against the spec (the server answers 400 otherwise).
  expect(server.requests.filter((r) => r.call === 'create' && r.status === 400)).toEqual([]);
}, 120_000);
