// What a workflow author sees when the broker path fails, in-process: no ID token (the job lacks
// `permissions: id-token: write`, or it is a fork's run), a token the broker refuses (wrong audience),
// a repository outside the policy, and the broker's queue full for longer than the step has left. Each
// is one error naming the likely cause; no key is left anywhere.
import { expect, test } from 'vitest';
import { useBrokerBed } from '../../broker/test/support/broker-bed.ts';
import { mainInProcess } from '../support/in-process.ts';

const bed = useBrokerBed({ limits: { 'creates-per-minute': 1, 'queue-timeout': '1s' } });

test('no ID token: the error says to add permissions: id-token: write, and nothing is sent', async () => {
  const main = await mainInProcess({ inputs: bed.inputs() });
  expect(main.errors).toEqual([
    'venice-ephemeral-key: broker-url is set, but the runner offers this job no OIDC token: add `permissions: id-token: write` to the job (or workflow). ' +
      'Runs for pull requests from forks, and Dependabot runs, never get one: skip the step for them with `if:`.',
  ]);
  expect(bed.broker.audit).toEqual([]);
});

test('a token for another audience: 401, explained with broker-audience', async () => {
  const main = await mainInProcess({ inputs: bed.inputs({ 'broker-audience': 'sts.amazonaws.com' }), env: bed.jobEnv() });
  expect(main.errors).toEqual([
    expect.stringMatching(
      /^venice-ephemeral-key: the broker refused this job's OIDC token \(401\) while minting the key\. The broker said: ""aud": the audience must include https:\/\/broker\.example\.org.*"\. Check that broker-audience equals the broker's oidc\.audience/,
    ),
  ]);
  expect(bed.venice.count('create')).toBe(0);
});

test("a repository outside the policy: 403 with the broker's reason", async () => {
  const main = await mainInProcess({ inputs: bed.inputs(), env: bed.jobEnv('evil-corp/shop') });
  expect(main.errors).toEqual([
    "venice-ephemeral-key: the broker's policy refused minting the key (403). The broker said: \"no rule of the broker's policy admits this workflow (the audit log records its repository, ids, ref and event); ask the broker's owner to add one.\".",
  ]);
  expect(bed.venice.count('create')).toBe(0);
});

test('the queue is full for longer than the step has left: the step gives up at once on the 429, saying so', async () => {
  const first = await mainInProcess({ inputs: bed.inputs(), env: bed.jobEnv() });
  expect(first.errors).toEqual([]);
  const delays: number[] = [];
  const second = await mainInProcess({ inputs: bed.inputs({ timeout: '10s' }), env: bed.jobEnv(), delays });
  expect(second.errors).toEqual([
    expect.stringMatching(
      /gave up after the step's timeout of 10s while waiting for minting the key\. The last attempt failed with: HTTP 429, the broker said: "the broker is creating keys at Venice's limit/,
    ),
  ]);
  expect(delays).toEqual([]); // Retry-After (about a minute) is past the deadline: no pointless wait
  expect(bed.broker.audit.map((line) => line.status)).toEqual([201, 429]);
  expect(bed.venice.count('create')).toBe(1);
});

test.each([
  [
    'the runner refuses the request token',
    { ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-unknown' },
    /the runner answered 401 without an OIDC token/,
  ],
  [
    'the runner cannot be reached',
    { ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/token?api-version=2.0', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-x' },
    /the runner did not hand out an OIDC token \(could not reach http:\/\/127\.0\.0\.1:9: connection refused\); re-run the job\./,
  ],
])('%s: the step fails saying so, and the broker is never asked', async (_, env, message) => {
  const main = await mainInProcess({
    inputs: bed.inputs(),
    env: { ...env, ACTIONS_ID_TOKEN_REQUEST_URL: env.ACTIONS_ID_TOKEN_REQUEST_URL || `${bed.issuer.url}/token?api-version=2.0` },
  });
  expect(main.errors).toEqual([expect.stringMatching(message)]);
  expect(bed.broker.audit).toEqual([]);
});
