// broker-url pointing at something that is not a venice-key-broker, or a broker answering wrongly or
// not at all: nothing in an answer is trusted until its id, secret, tag (this repository and run) and
// expiry check out. A secret-shaped value is masked before anything is read; a key made for someone
// else is deleted through the same broker; hostile error text is printed only neutralised; a mint that
// got no answer is sent again within the timeout (the broker finds and deletes a lost attempt's key).
import { createServer } from 'node:http';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { AUDIENCE } from '../../broker/test/support/broker-bed.ts';
import { closeServer, listenOnLoopback } from '../../fakes/loopback.ts';
import { jobClaims, OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { stepsRun } from '../../fakes/runner.ts';
import { readRunnerLog } from '../../fakes/runner-log.ts';
import { expectNotShown } from '../../testkit/leaks.ts';
import { REPOSITORY, RUN_ID } from '../../testkit/seed-keys.ts';
import { mainInProcess, postInProcess } from '../support/in-process.ts';

const SECRET = 'VENICE_INFERENCE_KEY_fromTheFakeBroker0123456789abc';
const TAG = `vek:${REPOSITORY} job r${RUN_ID}.1 abcdef`;
const GOOD_KEY = { id: 'key-1', apiKey: SECRET, description: TAG, expiresAt: '2030-01-01T00:00:00Z', rule: 'fake' };

type Answer = { status: number; body: unknown } | 'drop';
/** Answers by "METHOD /path", each list used in order (the last one repeats). */
let answers: Record<string, Answer[]> = {};
const seen: string[] = [];
/** The Idempotency-Key of each mint request. */
const idempotencyKeys: (string | undefined)[] = [];
const fake = createServer((req, res) => {
  const route = `${req.method} ${req.url}`;
  seen.push(route);
  if (route === 'POST /v1/keys') idempotencyKeys.push(req.headers['idempotency-key'] as string | undefined);
  const list = answers[route] ?? [{ status: 404, body: { message: 'Not Found' } }];
  const answer = (list.length > 1 ? list.shift() : list[0]) as Answer;
  req.resume();
  req.on('end', () => {
    if (answer === 'drop') return void res.socket?.destroy();
    res
      .writeHead(answer.status, { 'content-type': 'application/json' })
      .end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  });
});
let url = '';
let issuer: OidcIssuer;

beforeEach(async () => {
  stepsRun.length = 0;
  seen.length = 0;
  idempotencyKeys.length = 0;
  answers = {};
  url = `http://127.0.0.1:${await listenOnLoopback(fake)}`;
  issuer = await new OidcIssuer(AUDIENCE).start();
});
afterEach(async () => {
  await closeServer(fake);
  await issuer.stop();
  expectNotShown([SECRET, ...issuer.tokensIssued]);
});

const inputs = (extra: Record<string, string> = {}) => ({
  'broker-url': url,
  'broker-audience': AUDIENCE,
  'api-url': 'http://127.0.0.1:9',
  verify: 'false',
  ...extra,
});
const env = () => issuer.jobEnv(jobClaims(REPOSITORY, RUN_ID));
const mint = (extra: Record<string, string> = {}) => mainInProcess({ inputs: inputs(extra), env: env() });

test('a key tagged for another repository is masked, deleted through the broker, and never published', async () => {
  answers['POST /v1/keys'] = [{ status: 201, body: { ...GOOD_KEY, description: `vek:octo-org/other job r${RUN_ID}.1 abcdef` } }];
  answers['DELETE /v1/keys/key-1'] = [{ status: 200, body: { outcome: 'deleted' } }];
  const main = await mint();
  expect(main.errors).toEqual([expect.stringMatching(/the broker's answer to the mint is not a key for this repository and run/)]);
  const masked = main.intended.findIndex((command) => command.command === 'add-mask' && command.data === SECRET);
  expect(masked).toBeGreaterThan(-1);
  // Masked the moment it arrived: nothing but masks was issued since the request went out.
  expect(
    main.intended
      .slice(0, masked)
      .filter((command) => command.command !== 'add-mask')
      .map((c) => c.command),
  ).toEqual(['group']);
  expect(main.outputs).toEqual({});
  expect(seen).toEqual(['POST /v1/keys', 'DELETE /v1/keys/key-1']);
});

test('an error text with workflow commands in it is printed as data', async () => {
  answers['POST /v1/keys'] = [{ status: 403, body: { error: 'no\n::set-output name=api-key::stolen\n##[warning]forged' } }];
  const main = await mint();
  const { commands } = readRunnerLog(main.stdout);
  expect(commands.filter((command) => command.command !== 'add-mask').map((command) => command.command)).toEqual([
    'group',
    'endgroup',
    'error',
  ]);
  expect(main.errors[0]).toContain('The broker said: "no\\n::set-output name=api-key::stolen\\n#\\#[warning]forged".');
});

test.each([
  [404, { message: 'Not Found' }, /minting the key through the broker failed with HTTP 404\./],
  [
    400,
    { error: "field 'usd-limit': bad" },
    /the broker rejected the request while minting the key \(400\)\. The broker said: "field 'usd-limit': bad"/,
  ],
  [200, 'not json', /minting the key through the broker failed with HTTP 200\./],
  [502, { error: 'Venice: down' }, /minting the key through the broker failed with HTTP 502\. The broker said: "Venice: down"/],
])('an answer %i that is not a key fails the step with what came back', async (status, body, message) => {
  answers['POST /v1/keys'] = [{ status, body }];
  const main = await mint();
  expect(main.errors).toEqual([expect.stringMatching(message)]);
  expect(seen).toEqual(['POST /v1/keys']);
});

test('a mint that got no answer is sent again, and the second answer is used', async () => {
  answers['POST /v1/keys'] = ['drop', { status: 201, body: GOOD_KEY }];
  const main = await mint({ 'export-env': 'VENICE_API_KEY' });
  expect(main.errors).toEqual([]);
  expect(main.env.VENICE_API_KEY).toBe(SECRET);
  expect(main.stdout).toMatch(
    /minting the key: attempt failed \(no answer from broker-url http:\S+ \(.*\); check that broker-url is the broker's address and that it is running\); retrying in/,
  );
  expect(seen).toEqual(['POST /v1/keys', 'POST /v1/keys']);
});

test.each([
  [502, '<html>Bad Gateway</html>'],
  [504, { message: 'upstream timed out' }],
  [503, { error: 'the broker is shutting down (a deploy or a restart); retry, and another replica will answer.' }],
])("a load balancer's or a draining broker's %i is tried again", async (status, body) => {
  answers['POST /v1/keys'] = [
    { status, body },
    { status: 201, body: GOOD_KEY },
  ];
  const main = await mint();
  expect(main.errors).toEqual([]);
  expect(seen).toEqual(['POST /v1/keys', 'POST /v1/keys']);
});

test('caps the broker says it granted, if unreadable, leave the summary at what was asked', async () => {
  answers['POST /v1/keys'] = [{ status: 201, body: { ...GOOD_KEY, rule: 7, granted: { 'usd-limit': 'lots' }, clamped: ['x', 7] } }];
  const main = await mint({ 'usd-limit': '3', 'export-env': 'VENICE_API_KEY' });
  expect(main.errors).toEqual([]);
  expect(main.summary).toContain('| USD limit | 3 per UTC day |');
  expect(main.warnings).toEqual(["venice-ephemeral-key: the broker's policy lowered the request: x"]);
  expect(main.env.VENICE_API_KEY).toBe(SECRET);
});

test('a job cancelled as the key arrives publishes nothing; when the delete cannot go out, post is left to do it', async () => {
  answers['POST /v1/keys'] = [{ status: 201, body: GOOD_KEY }];
  const cancel = new AbortController();
  const main = await mainInProcess({
    inputs: inputs(),
    env: env(),
    cancel: { signal: cancel.signal, settleSignal: cancel.signal },
    onCommand: (command, data) => command === 'add-mask' && data === SECRET && cancel.abort(),
  });
  expect(main.errors).toEqual([
    'venice-ephemeral-key: the job was cancelled; any key this step created is deleted by it or by its post step.',
  ]);
  expect(main.warnings).toEqual([expect.stringMatching(/Could not delete key key-1 after the failure .*; the post step will try again\./)]);
  expect(main.outputs).toEqual({});

  answers['DELETE /v1/keys/key-1'] = [
    { status: 503, body: { error: 'busy' } },
    { status: 200, body: { outcome: 'already-gone' } },
  ];
  const post = await postInProcess({ inputs: inputs(), env: env(), state: main.state });
  expect(post.errors).toEqual([]);
  expect(post.stdout).toContain('deleting the key: attempt failed (HTTP 503, the broker said: "busy"); retrying in');
  expect(post.stdout).toContain('Key key-1 was already gone.');
});

test("an unwrap answer that is not this run's key is not used", async () => {
  answers['POST /v1/keys/unwrap'] = [{ status: 200, body: { ...GOOD_KEY, description: TAG } }]; // a job key, not the run's
  const use = await mainInProcess({ inputs: inputs({ mode: 'use', 'key-handle': 'vek1.1.abcdef01.AAAA' }), env: env() });
  expect(use.errors).toEqual([expect.stringMatching(/the broker's answer is not this run's key/)]);
  expect(use.outputs).toEqual({});
});

test.each([
  ['mint', 'POST /v1/keys', {}],
  ['use', 'POST /v1/keys/unwrap', { mode: 'use', 'key-handle': 'vek1.1.abcdef01.AAAA' }],
])('a %s answer without an id, a secret or a description is refused, and nothing is masked or deleted', async (_, route, extra) => {
  answers[route] = [{ status: 200, body: { apiKey: 'short', description: 7 } }];
  const main = await mainInProcess({ inputs: inputs(extra), env: env() });
  expect(main.errors).toEqual([expect.stringMatching(/the broker's answer (to the mint )?is not/)]);
  expect(main.intended.filter((command) => command.command === 'add-mask' && command.data === 'short')).toEqual([]);
  expect(seen).toEqual([route]);
});

test("post's delete that got no answer is sent again (a delete is safe to repeat)", async () => {
  answers['POST /v1/keys'] = [{ status: 201, body: GOOD_KEY }];
  const main = await mint();
  answers['DELETE /v1/keys/key-1'] = ['drop', { status: 200, body: { outcome: 'deleted', spent: { usd: 0.5, diem: 0 } } }];
  const post = await postInProcess({ inputs: inputs(), env: env(), state: main.state });
  expect(post.stdout).toMatch(/deleting the key: attempt failed \(no answer from broker-url http:\S+ \(/);
  expect(post.stdout).toContain('Deleted key key-1 through the broker. It spent 0.5 USD and 0 DIEM (trailing seven days).');
  expect(seen.filter((route) => route.startsWith('DELETE'))).toHaveLength(2);
});

test("a sweep answer is trusted only for keys whose own description carries this repository's tag", async () => {
  const id = '0d8fbff0-5ab9-4ba1-94c2-fb2f19656310';
  const ours = {
    id,
    description: `vek:${REPOSITORY}#1 pr:web r100.1 abcdef`,
    createdAt: 'whenever',
    expiresAt: '2030-01-01T00:00:00Z',
    tag: {},
  };
  answers['GET /v1/keys'] = [
    {
      status: 200,
      body: {
        keys: [
          ours,
          { ...ours, id: 'not an id' },
          { ...ours, id: '1d8fbff0-5ab9-4ba1-94c2-fb2f19656310', description: 'no tag at all' },
          { ...ours, id: '2d8fbff0-5ab9-4ba1-94c2-fb2f19656310', description: 'vek:someone/else#1 pr:web r100.1 abcdef' },
          { ...ours, id: '3d8fbff0-5ab9-4ba1-94c2-fb2f19656310', expiresAt: 'tomorrow' },
          { ...ours, id: '4d8fbff0-5ab9-4ba1-94c2-fb2f19656310', expiresAt: null },
        ],
      },
    },
  ];
  // The sweep answer is not a key list at all: nothing is counted as deleted.
  answers['POST /v1/keys/sweep'] = [{ status: 200, body: { keys: 'many', deletedIds: 'all' } }];
  const github = createServer(
    (_, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"state":"closed","merged":false}'),
  );
  const githubUrl = `http://127.0.0.1:${await listenOnLoopback(github)}`;
  try {
    const sweep = await mainInProcess({
      inputs: inputs({ mode: 'sweep' }),
      env: { ...env(), GITHUB_EVENT_NAME: 'schedule', GITHUB_API_URL: githubUrl },
    });
    expect(sweep.errors).toEqual([]);
    // Only two keys are this repository's (one of them never expires, which this action never makes: kept).
    expect(sweep.outputs['deleted-count']).toBe('0');
    expect(sweep.stdout).toContain(`The broker kept key ${id}`);
    expect(seen).toContain('POST /v1/keys/sweep');
  } finally {
    await closeServer(github);
  }
});

test('a mint the broker is still working on (409) is waited out and asked again with the same Idempotency-Key', async () => {
  answers['POST /v1/keys'] = [
    { status: 409, body: { error: 'a mint with this Idempotency-Key is still in progress; retry after the wait given.' } },
    { status: 201, body: GOOD_KEY },
  ];
  const main = await mainInProcess({ inputs: inputs(), env: env() });
  expect(main.errors).toEqual([]);
  expect(main.outputs['key-id']).toBe('key-1');
  expect(main.stdout).toMatch(/minting the key: the broker is still minting this key \(an earlier attempt\); retrying in/);
  expect(idempotencyKeys).toHaveLength(2);
  expect(idempotencyKeys[0]).toMatch(/^[0-9a-f-]{36}$/);
  expect(idempotencyKeys[1]).toBe(idempotencyKeys[0]);
  // Another step invocation sends another key.
  answers['POST /v1/keys'] = [{ status: 201, body: GOOD_KEY }];
  await mainInProcess({ inputs: inputs(), env: env() });
  expect(idempotencyKeys[2]).not.toBe(idempotencyKeys[0]);
});
