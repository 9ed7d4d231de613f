import { expect, test } from 'vitest';
import { runStep } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

// Each bad value fails main with one error naming the input and showing an accepted value, and no request.
const cases: [input: string, value: string, accepted: string][] = [
  ['expires-in', '1 hour', '"1h"'],
  ['expires-in', '0s', '"1h"'],
  ['expires-in', 'never', '"1h"'],
  ['expires-in', '400d', '"1h"'],
  ['usd-limit', '-1', '"unlimited"'],
  ['usd-limit', '10000000000', '"unlimited"'],
  ['diem-limit', 'lots', '"unlimited"'],
  ['limit-period', 'WEEK', '"EPOCH"'],
  ['model-privacy', 'secret', '"PRIVATE_ONLY"'],
  ['verify', 'yes', '"true"'],
  ['skip-delete', '1', '"true"'],
  ['fail-on-cleanup-error', 'on', '"true"'],
  ['export-env', 'VENICE-KEY', '"VENICE_API_KEY"'],
  ['export-env', 'GITHUB_TOKEN', '"VENICE_API_KEY"'],
  ['api-url', 'http://api.venice.ai/api/v1', '"https://api.venice.ai/api/v1"'],
  ['api-url', 'not a url', '"https://api.venice.ai/api/v1"'],
  ['timeout', '5 minutes', '"5m"'],
];

test.each(cases)('%s: %j fails fast with one clear error', async (input, value, accepted) => {
  const server = bed.venice;
  const main = await runStep('main', { inputs: bed.inputs({ [input]: value }) });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toContain(`venice-ephemeral-key: input '${input}': "${value}"`);
  expect(main.errors[0]).toContain(accepted);
  expect(main.stderr).toBe('');
  expect(main.stdout).not.toMatch(/^\s+at /m); // no stack trace
  expect(server.requests).toEqual([]);
});

test('several bad inputs are all named in one error', async () => {
  const server = bed.venice;
  const main = await runStep('main', { inputs: bed.inputs({ 'expires-in': 'soon', verify: 'maybe' }) });
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toContain("input 'expires-in'");
  expect(main.errors[0]).toContain("input 'verify'");
  expect(server.requests).toEqual([]);
});

test('an admin key with white space inside is refused without repeating it', async () => {
  const server = bed.venice;
  const main = await runStep('main', { inputs: bed.inputs({ 'admin-key': 'abc def' }) });
  expect(main.errors[0]).toContain("input 'admin-key'");
  expect(main.errors[0]).not.toContain('abc def');
  expect(server.requests).toEqual([]);
});
