// An operator's defaults are safe, through the broker bundle as its own process:
// - the shipped example config serves /metrics on an internal listener (127.0.0.1:9090), never on the
//   API listener runners and GitHub reach (404 there); /healthz and /readyz stay on both;
// - broker_venice_requests_total counts every request the broker sent Venice, the start-up check of the
//   admin key included;
// - a busy port is one plain line naming the setting, not a stack trace;
// - a Redis URL that names another host without a password stops the broker before it connects.

import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { configYaml } from '../../fakes/broker-process.ts';
import { closeServer, listenOnLoopback } from '../../fakes/loopback.ts';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { NODE24, REPO } from '../../fakes/runner.ts';
import { stopAll } from '../../testkit/stop.ts';
import { call, expectCleanAudit, spawnBroker, startFakes, TEST_DEFAULTS } from './support/broker-bed.ts';
import { EXAMPLE_OWNER_ID, exampleConfig } from './support/example-config.ts';
import { scrape } from './support/metrics.ts';

const SECRET = 'a-webhook-secret-for-tests-only';

function runServer(configText: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const path = join(mkdtempSync(join(tmpdir(), 'vek-broker-config-')), 'broker.yaml');
  writeFileSync(path, configText);
  return new Promise((done) => {
    execFile(
      NODE24,
      [join(REPO, 'broker/dist/server.js'), '--config', path],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 15_000 },
      (error, _, stderr) => done({ code: error ? Number(error.code) : 0, stderr }),
    );
  });
}

test('the example config: /metrics only on 127.0.0.1:9090, and it counts every Venice request, the start-up check included', async () => {
  const { venice, issuer } = await startFakes();
  const broker = await spawnBroker({ venice, issuer, webhookSecret: SECRET, configText: exampleConfig(venice, issuer) });
  try {
    expect(broker.metricsUrl).toBe('http://127.0.0.1:9090');
    expect((await fetch(`${broker.url}/metrics`)).status).toBe(404);
    expect((await call(broker, 'GET', '/readyz')).status).toBe(200);
    expect((await fetch(`${broker.metricsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${broker.metricsUrl}/healthz`)).status).toBe(200);
    const token = await issuer.sign(jobClaims('octo-org/shop', '4242', { repository_owner_id: EXAMPLE_OWNER_ID }));
    const minted = await call(broker, 'POST', '/v1/keys', { token, body: {} });
    expect(minted.status).toBe(201);
    expect((await call(broker, 'DELETE', `/v1/keys/${minted.json.id}`, { token })).status).toBe(200);
    const metrics = await scrape(broker);
    expect(venice.requests[0]?.call).toBe('list'); // the start-up check of the admin key
    expect(metrics.sum('broker_venice_requests_total')).toBe(venice.requests.length);
    expectCleanAudit(broker, venice, issuer, [SECRET]);
  } finally {
    await stopAll(broker, issuer, venice);
  }
});

test('a busy port: one plain line naming listen.port; a Redis on another host without a password: one line, before any connection', async () => {
  const { venice, issuer } = await startFakes();
  const taken = createServer();
  const port = await listenOnLoopback(taken);
  try {
    const env = { VENICE_ADMIN_KEY: venice.adminKey };
    const busy = await runServer(configYaml({ venice, issuer, defaults: TEST_DEFAULTS }, port), env);
    expect(busy.code).toBe(1);
    expect(busy.stderr.split('\n').filter((line) => line.startsWith('venice-key-broker:'))).toEqual([
      `venice-key-broker: 127.0.0.1:${port} (listen.host and listen.port) is already in use (another broker or program listens there); set listen.port to a free port.`,
    ]);
    expect(busy.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const asked = venice.requests.length;

    const unauthenticated = await runServer(
      configYaml({ venice, issuer, defaults: TEST_DEFAULTS, store: { 'redis-url-env': 'BROKER_REDIS_URL' } }),
      {
        ...env,
        // Never connected to: the URL is judged first (a documentation address, nothing listens there).
        BROKER_REDIS_URL: 'redis://192.0.2.10:6379/0',
      },
    );
    expect(unauthenticated.code).toBe(1);
    expect(unauthenticated.stderr).toBe(
      'venice-key-broker: the Redis URL in BROKER_REDIS_URL names another host (192.0.2.10:6379) without a password: anyone who can reach it could stop or steer every mint. Give the broker an ACL user and password (rediss://broker:password@192.0.2.10:6379, see docs/broker.md), or set store.allow-unauthenticated: true if the network alone protects it.\n',
    );
    expect(venice.requests).toHaveLength(asked); // refused before Venice was asked anything
  } finally {
    await closeServer(taken);
    await issuer.stop();
    await venice.stop();
  }
});
