// The webhook's less travelled paths, in-process: what GitHub may send that asks nothing of the broker
// (other events and actions, payloads without a usable repository, run or PR), headers and bodies that
// are not GitHub's, a Venice that fails while the keys are being deleted (retried, then left to the
// reconcile, which deletes them), and a broker holding off after Venice's 429.
import { createHmac, randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { deliver, pullRequestClosed, workflowRunCompleted } from '../../fakes/github-webhooks.ts';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { fastPolicy } from '../../testkit/fast-policy.ts';
import { addOwnedKey } from '../../testkit/seed-keys.ts';
import { waitUntil } from '../../testkit/wait.ts';
import { signatureMatches } from '../src/keys/github-webhook.ts';
import { call, startFakes, startTestBroker, stopAndScanAfterEach, TEST_DEFAULTS, type TestBroker } from './support/broker-bed.ts';
import { undocumented } from './support/broker-openapi.ts';

const SECRET = 'a-webhook-secret-for-tests-only';
let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
stopAndScanAfterEach(() => ({ venice, issuer, broker }), [SECRET]);

async function start(reconcile = '30s'): Promise<void> {
  ({ venice, issuer } = await startFakes());
  broker = await startTestBroker({
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    policy: fastPolicy(),
    githubWebhook: { 'secret-env': 'GITHUB_WEBHOOK_SECRET' },
    webhookSecret: SECRET,
    limits: { 'orphan-scan-interval': reconcile },
  });
}

/** Background work (the webhook's deletions) done, within a bound. */
const eventually = (done: () => boolean): Promise<void> => waitUntil(done, 'the background deletions', { withinMs: 5_000 });

test('deliveries that ask nothing of the broker are answered and change nothing', async () => {
  await start();
  const key = addOwnedKey(venice, { scope: 'job', runId: '42', pr: 3 });
  const signed = { signWith: SECRET };
  const requested = { ...workflowRunCompleted('octo-org/shop', '42'), action: 'requested' };
  const opened = { ...pullRequestClosed('octo-org/shop', 3), action: 'opened' };
  const noRepository = { ...workflowRunCompleted('octo-org/shop', '42'), repository: undefined };
  const badRun = workflowRunCompleted('octo-org/shop', '42');
  (badRun.workflow_run as Record<string, unknown>).id = 'not-a-run';
  const badPr = { ...pullRequestClosed('octo-org/shop', 3), number: -1 };
  // No signature at all: 401 before anything is read.
  expect((await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '42'))).status).toBe(401);
  const ownerless = workflowRunCompleted('octo-org/shop', '42');
  (ownerless.repository as Record<string, unknown>).owner = undefined;
  (ownerless.repository as Record<string, unknown>).full_name = 7;
  for (const [event, payload] of [
    ['push', { repository: workflowRunCompleted('octo-org/shop', '42').repository }],
    ['workflow_run', requested],
    ['pull_request', opened],
    ['workflow_run', noRepository],
    ['workflow_run', badRun],
    ['pull_request', badPr],
    ['workflow_run', ownerless],
  ] as const) {
    const answer = await deliver(broker.url, event, payload, signed);
    expect(answer, event).toMatchObject({ status: 202, json: { ignored: true } });
    expect(undocumented('POST', '/v1/github/webhook', answer.status, answer.json)).toEqual([]);
  }
  // Not GitHub's headers, or not JSON: 400 (after the signature, which still comes first).
  const bad = await fetch(`${broker.url}/v1/github/webhook`, {
    method: 'POST',
    headers: { 'x-github-event': 'push', 'x-github-delivery': 'not a guid!', 'x-hub-signature-256': sign('{}') },
    body: '{}',
  });
  expect(bad.status).toBe(400);
  const notJson = await fetch(`${broker.url}/v1/github/webhook`, {
    method: 'POST',
    headers: { 'x-github-event': 'workflow_run', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': sign('{"oops') },
    body: '{"oops',
  });
  expect(notJson.status).toBe(400);
  // A repository no rule admits: ignored, with an audit line that says so.
  const outside = await deliver(broker.url, 'workflow_run', workflowRunCompleted('evil-corp/shop', '42'), signed);
  expect(outside).toMatchObject({ status: 202, json: { ignored: true } });
  expect(broker.audit.at(-1)).toMatchObject({ action: 'webhook', outcome: 'refused', repository: 'evil-corp/shop' });
  expect(venice.liveKeys().map((live) => live.id)).toEqual([key.id]);
  expect(venice.requests).toEqual([]);
});

function sign(body: string): string {
  return `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
}

test('the signature is compared whole: another length or another secret never matches', () => {
  const body = Buffer.from('{"a":1}');
  const good = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
  expect(signatureMatches(SECRET, body, good)).toBe(true);
  expect(signatureMatches(SECRET, body, good.slice(0, -1))).toBe(false);
  expect(signatureMatches('another-secret-entirely', body, good)).toBe(false);
  expect(signatureMatches(SECRET, body, undefined)).toBe(false);
});

/** A key minted through the broker (so it has a lease). */
async function leasedKey(runId: string, body: Record<string, unknown> = {}, pr?: number): Promise<{ id: string }> {
  const claims: Record<string, string> = pr === undefined ? {} : { event_name: 'pull_request', ref: `refs/pull/${pr}/merge` };
  const answer = await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', runId, claims)), body });
  expect(answer.status).toBe(201);
  return { id: answer.json.id as string };
}

test('a Venice that fails while deleting: the lease is marked ending, and the reconciler deletes the key when Venice answers', async () => {
  await start('1s');
  const key = await leasedKey('77', { scope: 'run' });
  // Every attempt of the delivery's deletion fails (the client's eight attempts of each request), and so
  // does the reconciler's first try again.
  venice.inject('get', { kind: 'status', status: 500 }, 16);
  venice.inject('delete', { kind: 'status', status: 500 }, 16);
  expect((await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '77'), { signWith: SECRET })).status).toBe(202);
  await eventually(() => broker.logs.some((line) => /could not delete \S+ \(run 77 attempt 1 completed: /.test(line)));
  expect(venice.liveKeys().map((live) => live.id)).toEqual([key.id]);
  await eventually(() => broker.logs.some((line) => /could not delete \S+ again \(.*\); tried again later, until it expires\./.test(line)));
  // Venice answers again: the reconciler tries the ending lease again, after a longer wait, and deletes its key.
  await eventually(() => broker.audit.some((line) => line.action === 'webhook' && line.outcome === 'deleted'));
  expect(venice.liveKeys()).toEqual([]);
  expect(broker.audit.at(-1)).toMatchObject({
    action: 'webhook',
    outcome: 'deleted',
    keyId: key.id,
    rule: 'octo-org-main',
    leaseEnded: 'webhook',
    reason: 'run 77 attempt 1 completed (tried again)',
  });
});

test('after a Venice 429 the deletion waits for the wait Venice asked for, then deletes', async () => {
  await start();
  const key = await leasedKey('80', { scope: 'pr', slot: 'web' }, 12);
  venice.inject('get', { kind: 'status', status: 429, retryAfter: '1' });
  expect((await deliver(broker.url, 'pull_request', pullRequestClosed('octo-org/shop', 12), { signWith: SECRET })).status).toBe(202);
  await eventually(() => broker.audit.some((line) => line.action === 'webhook' && line.outcome === 'deleted'));
  expect(venice.liveKeys()).toEqual([]);
  expect(broker.audit.at(-1)).toMatchObject({ action: 'webhook', outcome: 'deleted', keyId: key.id, webhookEvent: 'pull_request' });
});
