// A workflow with no admin key anywhere: every step runs the committed dist/ the way the runner does
// (Node 24, inputs, state, outputs, the ID-token variables of `permissions: id-token: write`), against
// the broker running as its own process from broker/dist/server.js, with the Venice test server behind
// it. A run key is minted, used by another job and revoked by the last; a job key is minted and deleted
// by its post step. At the end no key is left, the audit log has one line per decision, and no step
// printed a key, an ID token or the runner's request token.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { AUDIENCE, spawnBroker, type TestBroker } from '../../broker/test/support/broker-bed.ts';
import { jobClaims, OidcIssuer } from '../../fakes/oidc-issuer.ts';
import { runJob, runStep, stepsRun } from '../../fakes/runner.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { expectNoLeaks, expectNotShown } from '../../testkit/leaks.ts';
import { REPOSITORY, RUN_ID } from '../../testkit/seed-keys.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
const jobEnvs: Record<string, string>[] = [];

beforeEach(async () => {
  stepsRun.length = 0;
  venice = await new VeniceServer().start();
  issuer = await new OidcIssuer(AUDIENCE).start();
  broker = await spawnBroker({ venice, issuer });
});
afterEach(async () => {
  await broker.stop();
  await issuer.stop();
  await venice.stop();
  expectNoLeaks(venice);
  expectNotShown([...issuer.tokensIssued, ...jobEnvs.map((env) => env.ACTIONS_ID_TOKEN_REQUEST_TOKEN as string)]);
});

/** A job of this run with `permissions: id-token: write`. */
function jobEnv(): Record<string, string> {
  const env = issuer.jobEnv(jobClaims(REPOSITORY, RUN_ID));
  jobEnvs.push(env);
  return env;
}

test('mint, use and delete keys through the broker, with no admin key in the workflow', async () => {
  const inputs = { 'broker-url': broker.url, 'broker-audience': AUDIENCE, 'api-url': venice.apiUrl };

  const mint = await runJob({ inputs: { ...inputs, scope: 'run', 'usd-limit': '2' }, env: jobEnv() });
  expect(mint.main.errors).toEqual([]);
  const handle = mint.main.outputs['key-handle'] as string;
  expect(handle).toMatch(/^vek1\./);
  const runKey = venice.minted[0];
  expect(mint.main.outputs['api-key']).toBe(runKey?.apiKey);
  expect(mint.main.summary).toMatch(/Granted by \| the broker's rule octo-org-main/);
  expect(mint.post.stdout).toMatch(/is the run's key: it stays/);

  const use = await runStep('main', { inputs: { ...inputs, mode: 'use', 'key-handle': handle }, env: jobEnv() });
  expect(use.errors).toEqual([]);
  expect(use.outputs['api-key']).toBe(runKey?.apiKey);
  // Masked the moment the broker's answer arrived, before the key id was first printed.
  expect(use.stdout.indexOf(`::add-mask::${runKey?.apiKey}`)).toBeGreaterThan(-1);
  expect(use.stdout.indexOf(`::add-mask::${runKey?.apiKey}`)).toBeLessThan(use.stdout.indexOf(runKey?.id as string));

  const build = await runJob({ inputs, env: jobEnv() });
  expect(build.main.errors).toEqual([]);
  expect(build.post.errors).toEqual([]);
  expect(build.post.stdout).toMatch(/Deleted key \S+ through the broker\. It spent 0 USD and 0 DIEM/);

  const revoke = await runStep('main', { inputs: { ...inputs, mode: 'revoke', 'key-handle': handle }, env: jobEnv() });
  expect(revoke.errors).toEqual([]);
  expect(revoke.outputs['deleted-ids']).toBe(runKey?.id);

  expect(venice.liveKeys()).toEqual([]);
  expect(venice.count('create')).toBe(2);
  expect(broker.audit.map((line) => `${line.action} ${line.outcome} ${line.status}`)).toEqual([
    'mint granted 201',
    'unwrap granted 200',
    'mint granted 201',
    'delete deleted 200',
    'unwrap granted 200',
    'delete deleted 200',
  ]);
  expect(broker.audit[0]).toMatchObject({
    repository: REPOSITORY,
    run: RUN_ID,
    actor: 'octocat',
    ref: 'refs/heads/main',
    rule: 'octo-org-main',
  });
  const secrets = [venice.adminKey, ...venice.minted.map((key) => key.apiKey), ...issuer.tokensIssued, handle];
  expect(secrets.filter((secret) => broker.auditText().includes(secret))).toEqual([]);
});
