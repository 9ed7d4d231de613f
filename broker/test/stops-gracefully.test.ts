// A platform stopping the broker (SIGTERM, as `docker stop` sends it) while a mint is in flight: the
// broker stops accepting, the mint finishes and its caller gets the key, and the process exits 0.

import { expect, test } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { stopAll } from '../../testkit/stop.ts';
import { call, spawnBroker, startFakes } from './support/broker-bed.ts';

test('SIGTERM lets a mint in flight finish, then the broker exits 0', async () => {
  const { venice, issuer } = await startFakes();
  const broker = await spawnBroker({ venice, issuer });
  try {
    const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
    venice.inject('create', { kind: 'act-late', ms: 500 });
    const created = venice.nextRequest('create');
    const minting = call(broker, 'POST', '/v1/keys', { token, body: {} });
    await created;
    const exited = new Promise<number | null>((done) => broker.child.once('exit', done));
    broker.child.kill('SIGTERM');
    const answer = await minting;
    expect(answer.status).toBe(201);
    expect(venice.liveKeys().map((key) => key.id)).toEqual([answer.json.id]);
    expect(await exited).toBe(0);
    expect(broker.audit).toEqual([expect.objectContaining({ action: 'mint', outcome: 'granted', keyId: answer.json.id })]);
    // It says when it starts draining and when it has stopped: a platform's stop is never silent.
    expect(broker.logs.join('\n')).toMatch(
      /"message":"SIGTERM: draining: \/readyz is 503[^\n]*\n(.*\n)*\{"level":"info","time":"[^"]+","message":"stopped"\}/,
    );
  } finally {
    await stopAll(broker, issuer, venice);
  }
});
