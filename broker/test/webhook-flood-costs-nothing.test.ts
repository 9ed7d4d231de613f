// A stranger's bytes cost nothing: 520 connections that each send a webhook delivery with a junk
// signature and a body that never arrives (the flood that used to hold every one of max-connections'
// 512 slots for request-timeout) against the broker bundle as its own process with the shipped example
// config. Legitimate mints and deletes keep being served (p99 under 1 s), the broker's memory grows
// less than 50 MiB, and a signed delivery is still acted on.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { expect, test } from 'vitest';
import { deliver, workflowRunCompleted } from '../../fakes/github-webhooks.ts';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { call, expectCleanAudit, spawnBroker, startFakes } from './support/broker-bed.ts';
import { EXAMPLE_OWNER_ID, exampleConfig } from './support/example-config.ts';

const SECRET = 'a-webhook-secret-for-tests-only';
const FLOOD = 520;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Keeps `size` slow unsigned deliveries open until `stop`, opening a new one whenever the broker closes one. */
function flood(url: string, size: number): { stop: () => void; opened: () => number } {
  const { hostname, port } = new URL(url);
  const sockets = new Set<Socket>();
  let opened = 0;
  let stopped = false;

  const open = (): void => {
    if (stopped || opened >= size * 8) return; // bounded in count as well as time
    opened++;
    const socket = connect(Number(port), hostname, () => {
      // Declared as 20 kB (under the limit, so it is not refused for its size), 16 bytes sent, then nothing.
      socket.write(
        'POST /v1/github/webhook HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\n' +
          `X-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: ${randomUUID()}\r\n` +
          `X-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\nContent-Length: 20000\r\n\r\n{"action":"compl`,
      );
    });
    sockets.add(socket);
    socket.on('error', () => undefined);

    socket.on('close', () => {
      sockets.delete(socket);
      setTimeout(open, 1_000); // back a second later: up to 520 new connections a second
    });
  };
  for (let i = 0; i < size; i++) open();
  return {
    opened: () => opened,
    stop: () => {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
  };
}

test('520 slow unsigned webhook bodies: mints keep being served within 1 s, memory stays flat, signed deliveries act', async () => {
  const { venice, issuer } = await startFakes();
  const broker = await spawnBroker({
    venice,
    issuer,
    webhookSecret: SECRET,
    configText: exampleConfig(venice, issuer, (config) => {
      config.metrics = { port: 0 };
    }),
  });
  const attack = { stop: () => undefined, opened: () => 0 };
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '4242', { repository_owner_id: EXAMPLE_OWNER_ID }));
    const pid = broker.child.pid as number;
    // Warmed up as a broker in service is (its heap sized for traffic) before its memory is measured:
    // a few mints, and a burst of 1,000 health checks on fresh connections.
    for (let i = 0; i < 3; i++) {
      const minted = await call(broker, 'POST', '/v1/keys', { token, body: { 'expires-in': '30m' } });
      await call(broker, 'DELETE', `/v1/keys/${minted.json.id}`, { token });
    }
    for (let round = 0; round < 20; round++) {
      const checks = Array.from({ length: 50 }, () => fetch(`${broker.url}/healthz`, { headers: { connection: 'close' } }));
      await Promise.all(checks.map(async (check) => (await check).text()));
    }
    const before = rssMiB(pid);
    Object.assign(attack, flood(broker.url, FLOOD));
    await new Promise((done) => setTimeout(done, 1_000)); // the flood is at full size

    const latencies: number[] = [];
    let peak = before;
    for (let i = 0; i < 12; i++) {
      const started = performance.now();
      const minted = await call(broker, 'POST', '/v1/keys', { token, body: { 'expires-in': '30m' } });
      latencies.push(performance.now() - started);
      expect(minted.status).toBe(201);
      const at = performance.now();
      expect((await call(broker, 'DELETE', `/v1/keys/${minted.json.id}`, { token })).status).toBe(200);
      latencies.push(performance.now() - at);
      peak = Math.max(peak, rssMiB(pid));
      await new Promise((done) => setTimeout(done, 150));
    }
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.ceil(latencies.length * 0.99) - 1] as number;
    expect(p99).toBeLessThan(1_000);
    expect(peak - before).toBeLessThan(50);

    // A signed delivery, sent during the flood, is still read and acted on: the finished run's key goes.
    const kept = await call(broker, 'POST', '/v1/keys', { token, body: { scope: 'run' } });
    expect(kept.status).toBe(201);
    const finished = workflowRunCompleted('octo-org/shop', '4242');
    (finished.repository as { owner: { id: number } }).owner.id = Number(EXAMPLE_OWNER_ID); // the example's rule pins octo-org's id
    const delivered = await deliver(broker.url, 'workflow_run', finished, { signWith: SECRET });
    expect(delivered.status).toBe(202);
    for (let tries = 0; tries < 100 && venice.liveKeys().length > 0; tries++) await new Promise((done) => setTimeout(done, 100));
    expect(venice.liveKeys()).toEqual([]);
    attack.stop();
    expectCleanAudit(broker, venice, issuer, [SECRET]);
  } finally {
    attack.stop();
    await broker.stop();
    await issuer.stop();
    await venice.stop();
  }
});
