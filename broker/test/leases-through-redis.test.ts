// Leases, through the broker bundle as its own process on a real Redis, with Octokit's example payloads:
// - a run re-run (attempt 2) and a reopened PR keep their live keys through late and repeated deliveries;
//   attempt 1's keys and the closed PR's keys go;
// - an idempotent mint: the same Idempotency-Key gets the same key again (one key at Venice), 409 while
//   the first is in progress, 422 with another body; post's delete ends it, nothing left;
// - live-keys across three replicas: 10 concurrent mints with live-keys 2, exactly 2 succeed;
// - a mint takes at most 4 round trips to Redis (counted with MONITOR);
// - `leases --json` and `revoke --repository` work while the brokers serve: revoked keys are gone at
//   Venice, and audited `"by":"operator"`.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { configYaml } from '../../fakes/broker-process.ts';
import { deliver, pullRequestClosed, workflowRunCompleted } from '../../fakes/github-webhooks.ts';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { NODE24, REPO } from '../../fakes/runner.ts';
import { inRedis, useRedisServer, withRedis } from '../../testkit/redis.ts';
import { stopAll } from '../../testkit/stop.ts';
import { waitUntil } from '../../testkit/wait.ts';
import { call, DEFAULT_RULES, expectCleanAudit, spawnBroker, startFakes, TEST_DEFAULTS } from './support/broker-bed.ts';

const redis = useRedisServer();
const SECRET = 'a-webhook-secret-for-tests-only';
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Background work (the webhook's deletions) done, within a bound. */
const eventually = (done: () => boolean): Promise<void> => waitUntil(done, 'the background deletions', { withinMs: 5_000 });

withRedis(
  'a re-run and a reopened PR keep their keys through late and repeated deliveries; attempt 1 and the closed PR lose theirs',
  async () => {
    await redis.start();
    const { venice, issuer } = await startFakes();
    const broker = await spawnBroker({
      venice,
      issuer,
      ...inRedis(redis),
      githubWebhook: { 'secret-env': 'GITHUB_WEBHOOK_SECRET' },
      webhookSecret: SECRET,
      limits: { 'orphan-scan-interval': '1s' },
    });
    try {
      const mint = async (claims: Record<string, string>, body: Record<string, unknown> = {}) =>
        (await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', '4242', claims)), body })).json
          .id as string;
      const live = () => venice.liveKeys().map((key) => key.id);
      // Run 4242, attempt 1: a job key and a run key; it completes.
      const firstAttempt = [await mint({}), await mint({}, { scope: 'run' })];
      const completed = await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '4242', 1), { signWith: SECRET });
      await eventually(() => firstAttempt.every((id) => !live().includes(id)));
      // "Re-run failed jobs": attempt 2 on the same run id mints again; attempt 1's completion arrives late
      // and again (a redelivery with its own GUID), and reconcile passes go by: attempt 2's keys stay.
      const secondAttempt = [await mint({ run_attempt: '2' }), await mint({ run_attempt: '2' }, { scope: 'run' })];
      await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '4242', 1), { signWith: SECRET });
      await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '4242', 1), {
        signWith: SECRET,
        delivery: completed.delivery,
      });
      // A PR closed, then reopened: a key handed out after the close stays through the close's redelivery.
      const pull = { event_name: 'pull_request', ref: 'refs/pull/7/merge' };
      const beforeClose = await mint(pull, { scope: 'pr', slot: 'web' });
      const closedAt = new Date();
      await sleep(20);
      await deliver(broker.url, 'pull_request', pullRequestClosed('octo-org/shop', 7, false, closedAt), { signWith: SECRET });
      await eventually(() => !live().includes(beforeClose));
      const afterReopen = await mint(pull, { scope: 'pr', slot: 'web' });
      await deliver(broker.url, 'pull_request', pullRequestClosed('octo-org/shop', 7, false, closedAt), { signWith: SECRET });
      await sleep(2_500); // two reconcile passes
      expect(live().sort()).toEqual([...secondAttempt, afterReopen].sort());
      // Attempt 2 completes: its keys go.
      await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '4242', 2), { signWith: SECRET });
      await eventually(() => secondAttempt.every((id) => !live().includes(id)));
      const ended = broker.audit.filter((line) => line.leaseEnded === 'webhook');
      expect(ended.map((line) => line.keyId).sort()).toEqual([...firstAttempt, beforeClose, ...secondAttempt].sort());
      for (const line of ended) expect(line).toMatchObject({ rule: expect.stringMatching(/^octo-org-/), delivery: expect.any(String) });
      expectCleanAudit(broker, venice, issuer, [SECRET]);
    } finally {
      await stopAll(broker, issuer, venice, redis);
    }
  },
);

withRedis('idempotent mints: the same key again, 409 while in progress, 422 with another body; 4 round trips per mint', async () => {
  await redis.start();
  const { venice, issuer } = await startFakes();
  const broker = await spawnBroker({ venice, issuer, defaults: TEST_DEFAULTS, ...inRedis(redis) });
  const monitor = new Redis(redis.url);
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    const mint = (key: string, body: Record<string, unknown>) =>
      fetch(`${broker.url}/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      }).then(async (answer) => ({ status: answer.status, json: (await answer.json()) as Record<string, unknown> }));
    await mint(randomUUID(), {}); // scripts loaded, listing cached: the next mint is a steady one

    // Count the broker's commands during one mint (the heartbeat aside).
    const commands: string[] = [];
    const watching = await monitor.monitor();
    // Commands a script runs show as from "lua": only round trips (what a client sends) are counted.
    watching.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua' && !String(args[1] ?? '').startsWith('{vkb}:replica:')) commands.push(String(args[0]).toLowerCase());
    });
    await sleep(100);
    const key = randomUUID();
    const first = await mint(key, { 'expires-in': '30m' });
    await sleep(100);
    watching.disconnect();
    expect(first.status).toBe(201);
    expect(commands.length, commands.join(' ')).toBeLessThanOrEqual(4);

    // The answer was lost on the way back; the action retries with the same Idempotency-Key: the same key.
    const again = await mint(key, { 'expires-in': '30m' });
    expect(again).toMatchObject({ status: 201, json: { id: first.json.id, apiKey: first.json.apiKey } });
    expect(venice.count('create')).toBe(2); // the warm-up's and this one's: no second key for the retry
    expect((await mint(key, { 'expires-in': '20m' })).status).toBe(422);
    // A repeat while the first is still in progress: 409.
    venice.inject('create', { kind: 'delay', ms: 500 });
    const slowKey = randomUUID();
    const slow = mint(slowKey, {});
    await venice.nextRequest('create');
    expect((await mint(slowKey, {})).status).toBe(409);
    expect((await slow).status).toBe(201);
    // Post deletes the key: its lease ends, and its Idempotency-Key is forgotten with it.
    expect((await call(broker, 'DELETE', `/v1/keys/${first.json.id}`, { token })).json).toMatchObject({ outcome: 'deleted' });
    expect(venice.liveKeys().map((live) => live.id)).not.toContain(first.json.id);
    expect((await mint(key, { 'expires-in': '30m' })).json.id).not.toBe(first.json.id);
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(monitor, broker, issuer, venice, redis);
  }
});

withRedis('live-keys 2 across three replicas: of 10 concurrent mints exactly 2 succeed; leases and revoke for operators', async () => {
  await redis.start();
  const { venice, issuer } = await startFakes();
  const rules = DEFAULT_RULES.map((rule) => ({ ...rule, ceilings: { ...rule.ceilings, 'live-keys': 2 } }));
  const options = { venice, issuer, rules, ...inRedis(redis) };
  const replicas = [await spawnBroker(options), await spawnBroker(options), await spawnBroker(options)];
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '600'));
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => call(replicas[i % 3] as (typeof replicas)[number], 'POST', '/v1/keys', { token, body: {} })),
    );
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(2);
    expect(answers.filter((answer) => answer.status !== 201).every((answer) => answer.status === 403 || answer.status === 429)).toBe(true);
    const web = await call(replicas[0] as (typeof replicas)[number], 'POST', '/v1/keys', {
      token: await issuer.sign(jobClaims('octo-org/web', '601')),
      body: {},
    });
    expect(web.status).toBe(201);

    // The operators' commands, beside the serving brokers, on the same config and store.
    const dir = mkdtempSync(join(tmpdir(), 'vek-operator-'));
    const configPath = join(dir, 'broker.yaml');
    writeFileSync(configPath, configYaml(options));
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
        execFile(
          NODE24,
          [join(REPO, 'broker/dist/server.js'), ...args, '--config', configPath],
          { env: { PATH: process.env.PATH ?? '', VENICE_ADMIN_KEY: venice.adminKey, BROKER_REDIS_URL: redis.url }, timeout: 15_000 },
          (error, stdout, stderr) => done({ code: error ? Number(error.code) : 0, stdout, stderr }),
        ),
      );
    const listed = await run(['leases', '--json']);
    expect(listed.code).toBe(0);
    const leases = (JSON.parse(listed.stdout) as { leases: { keyId: string; repository: string; rule: string; atVenice: boolean }[] })
      .leases;
    expect(leases.map((lease) => lease.repository).sort()).toEqual(['octo-org/shop', 'octo-org/shop', 'octo-org/web']);
    expect(leases.every((lease) => lease.rule === 'octo-org-main' && lease.atVenice)).toBe(true);
    expect(listed.stdout).not.toMatch(/VENICE_INFERENCE_KEY_|apiKey/);
    expect((await run(['revoke'])).stderr).toMatch(/revoke needs what to revoke/);
    const revoked = await run(['revoke', '--repository', 'octo-org/shop']);
    expect(revoked.code).toBe(0);
    const lines = revoked.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatchObject({ action: 'revoke', by: 'operator', outcome: 'deleted', leaseEnded: 'operator' });
    expect(venice.liveKeys().map((key) => key.id)).toEqual([web.json.id]);
    // The repository's live keys are free again: a mint succeeds.
    expect((await call(replicas[1] as (typeof replicas)[number], 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
    expect(`${revoked.stdout}${revoked.stderr}${listed.stdout}${listed.stderr}`).not.toContain(venice.adminKey);
  } finally {
    await stopAll(...replicas, issuer, venice, redis);
  }
});
