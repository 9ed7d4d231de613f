// Through the committed dist/ and broker/dist/ as processes: the workflow log says what the broker said
// and what to do about it.
// - A broker that refuses connections (mid-deploy) for 3 s and then answers still serves the step, and
//   had it not come back, the last error would name broker-url.
// - A broker whose store is out of reach answers 503 with its reason, and the workflow log shows that
//   reason, not only "HTTP 503".
// - No answer of the broker tells its caller about the action's `timeout` input (the broker's own
//   budget is its venice-timeout, which its callers cannot change).
import { createServer } from 'node:http';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { AUDIENCE, spawnBroker, TEST_DEFAULTS } from '../../broker/test/support/broker-bed.ts';
import { closeServer, listenOnLoopback } from '../../fakes/loopback.ts';
import { jobClaims, OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { runJob, runStep, startStep, stepsRun } from '../../fakes/runner.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { expectNoLeaks, expectNotShown } from '../../testkit/leaks.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { REPOSITORY, RUN_ID } from '../../testkit/seed-keys.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
const requestTokens: string[] = [];
const redis = useRedisServer();

beforeEach(async () => {
  stepsRun.length = 0;
  venice = await new VeniceServer().start();
  issuer = await new OidcIssuer(AUDIENCE).start();
});
afterEach(async () => {
  await issuer.stop();
  await venice.stop();
  expectNoLeaks(venice);
  expectNotShown([...issuer.tokensIssued, ...requestTokens]);
});

function jobEnv(): Record<string, string> {
  const env = issuer.jobEnv(jobClaims(REPOSITORY, RUN_ID));
  requestTokens.push(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN as string);
  return env;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listenOnLoopback(probe);
  await closeServer(probe);
  return port;
}

test('a broker that refuses connections for 3 s, then answers: the step is served; had it not, broker-url is named', async () => {
  const port = await freePort();
  const inputs = { 'broker-url': `http://127.0.0.1:${port}`, 'broker-audience': AUDIENCE, 'api-url': venice.apiUrl, timeout: '30s' };
  const step = startStep('main', { inputs, env: jobEnv() });
  await new Promise((done) => setTimeout(done, 3_000));
  const broker = await spawnBroker({ venice, issuer, defaults: TEST_DEFAULTS, port });
  try {
    const main = await step.done;
    expect(main.errors).toEqual([]);
    expect(main.outputs['key-id']).toBe(venice.minted[0]?.id);
    expect(main.stdout).toMatch(
      /attempt failed \(no answer from broker-url http:\/\/127\.0\.0\.1:\d+ \(could not reach .*connection refused\)/,
    );
    expect((await runStep('post', { inputs, state: main.state, env: jobEnv() })).errors).toEqual([]);
  } finally {
    await broker.stop();
  }
  // Nobody comes back: the step gives up within its timeout, and the last error names broker-url.
  const gone = await runStep('main', { inputs: { ...inputs, timeout: '10s' }, env: jobEnv() });
  expect(gone.errors).toEqual([
    expect.stringMatching(
      /gave up after the step's timeout of 10s while waiting for minting the key\. The last attempt failed with: no answer from broker-url http:\/\/127\.0\.0\.1:\d+ .*check that broker-url is the broker's address and that it is running\./,
    ),
  ]);
});

withRedis(
  "a broker whose store is out of reach: the workflow log quotes the broker's reason; no broker answer mentions `timeout`",
  async () => {
    await redis.start();
    venice.inject('create', { kind: 'hang' }, 1); // the first create never answers: the broker's own budget runs out
    const broker = await spawnBroker({
      venice,
      issuer,
      defaults: TEST_DEFAULTS,
      ...inRedis(redis),
      limits: { 'venice-timeout': '2s' },
    });
    try {
      const inputs = { 'broker-url': broker.url, 'broker-audience': AUDIENCE, 'api-url': venice.apiUrl, timeout: '30s' };
      const slow = await runJob({ inputs, env: jobEnv() });
      // The broker's 503 for its Venice budget is retried, and the step is served by the next create.
      expect(slow.main.errors).toEqual([]);
      expect(slow.main.stdout).toMatch(
        /attempt failed \(HTTP 503, the broker said: "Venice: gave up after the broker's venice-timeout of 2s/,
      );

      await redis.stop();
      const down = await runStep('main', { inputs: { ...inputs, timeout: '10s' }, env: jobEnv() });
      expect(down.errors).toEqual([
        expect.stringMatching(
          /The last attempt failed with: HTTP 503, the broker said: "the broker's shared store is out of reach, so it cannot count Venice's limit; nothing was created\./,
        ),
      ]);
      // What the broker answered, as audited and as the steps quoted it: never the action's input.
      const said = [
        ...broker.audit.map((line) => String(line.reason ?? '')),
        ...stepsRun.flatMap((step) => step.stdout.match(/the broker said: "[^"]*"/g) ?? []),
      ];
      expect(said.filter((text) => /`timeout`|timeout input/.test(text))).toEqual([]);
    } finally {
      await broker.stop();
    }
  },
);
