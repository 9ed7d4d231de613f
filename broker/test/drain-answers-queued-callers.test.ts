// Stopping the broker (what SIGTERM does) while a caller waits in the queue: the caller is answered 503
// with Retry-After at once, with an audit line, rather than held until the process goes; nothing more
// is created. A keep-alive connection opened before the stop (a load balancer's health checks) reads
// /readyz 503 on it, told to close. The window's one turn is taken, so the second caller waits.
import { Agent, request } from 'node:http';
import { expect, test } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { call, expectCleanAudit, startFakes, startTestBroker, TEST_DEFAULTS } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

test('a queued caller is answered 503 with Retry-After the moment the broker starts draining', async () => {
  const { venice, issuer } = await startFakes();
  const broker = await startTestBroker({
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    limits: { 'creates-per-minute': 1, 'queue-timeout': '2m' },
  });
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
    const queued = call(broker, 'POST', '/v1/keys', { token, body: {} });
    for (let tries = 0; tries < 100 && (await scrape(broker)).value('broker_queue_depth') < 1; tries++) {
      await new Promise((done) => setTimeout(done, 20));
    }
    // The load balancer's connection: kept alive, one socket, opened before the stop.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ status: number; connection: string | undefined; socket: unknown }>((done, fail) => {
        const sent = request(`${broker.url}${path}`, { agent }, (response) => {
          response.resume();
          response.on('end', () =>
            done({ status: response.statusCode ?? 0, connection: response.headers.connection, socket: sent.socket }),
          );
        });
        sent.on('error', fail);
        sent.end();
      });
    const before = await get('/readyz');
    expect(before.status).toBe(200);
    const stopped = broker.stop(5_000);
    const answer = await queued;
    const during = await get('/readyz');
    expect(during).toMatchObject({ status: 503, connection: 'close' });
    expect(during.socket).toBe(before.socket); // the same connection, still open
    agent.destroy();
    await stopped;
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('1');
    expect(answer.headers.get('connection')).toBe('close');
    expect(answer.json.error).toMatch(/^the broker is shutting down \(a deploy or a restart\); retry, and another replica will answer\./);
    expect(broker.audit.at(-1)).toMatchObject({
      action: 'mint',
      outcome: 'refused',
      status: 503,
      reason: 'shutting down: the caller was answered before its turn.',
    });
    expect(venice.count('create')).toBe(1);
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await issuer.stop();
    await venice.stop();
  }
});
