// The broker's start, in-process (the bundle's runs are in operator-defaults-are-safe.test.ts and
// server-command.test.ts): an admin key Venice refuses stops it (AdminKeyRefused, after one read); a
// Venice out of reach is only said, and it starts; a busy port is a ListenError naming the setting, for
// the API listener and the metrics listener alike, and nothing is left listening.
import { createServer } from 'node:http';
import { expect, test } from 'vitest';
import { configYaml } from '../../../fakes/broker-process.ts';
import { closeServer, listenOnLoopback } from '../../../fakes/loopback.ts';
import type { VeniceServer } from '../../../fakes/venice-server.ts';
import { fastPolicy } from '../../../testkit/fast-policy.ts';
import { AdminKeyRefused, ListenError, startBroker } from '../../src/broker.ts';
import { parseConfig } from '../../src/policy/config.ts';
import { startFakes, TEST_DEFAULTS } from '../support/broker-bed.ts';

async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listenOnLoopback(probe);
  await closeServer(probe);
  return port;
}

test('the admin key: refused by Venice, the broker does not start; Venice out of reach, it starts and says so', async () => {
  const { venice, issuer } = await startFakes();
  const options = { writeAudit: () => undefined, writeLog: () => undefined, env: {}, policy: fastPolicy(), checkAdminKey: true };
  try {
    const config = parseConfig(configYaml({ venice, issuer, defaults: TEST_DEFAULTS }));
    await expect(startBroker({ ...options, config, adminKey: 'VENICE_INFERENCE_KEY_notTheAdminKey' })).rejects.toThrow(AdminKeyRefused);
    expect(venice.requests.map((request) => request.call)).toEqual(['list']);
    const unchecked: string[] = [];
    const away = parseConfig(
      configYaml({
        venice: { ...venice, apiUrl: `http://127.0.0.1:${await freePort()}/api/v1` } as VeniceServer,
        issuer,
        defaults: TEST_DEFAULTS,
      }),
    );
    const broker = await startBroker({
      ...options,
      config: away,
      adminKey: venice.adminKey,
      onAdminKeyUnchecked: (why) => unchecked.push(why),
    });
    expect(unchecked).toEqual([
      expect.stringMatching(/listing keys failed: could not reach http:\/\/127\.0\.0\.1:\d+: connection refused/),
    ]);
    await broker.close();
  } finally {
    await issuer.stop();
    await venice.stop();
  }
});

test('a busy port is a ListenError naming its setting, for either listener', async () => {
  const { venice, issuer } = await startFakes();
  const taken = createServer();
  const port = await listenOnLoopback(taken);
  const options = { adminKey: venice.adminKey, writeAudit: () => undefined, writeLog: () => undefined, env: {} };
  try {
    const busyApi = parseConfig(configYaml({ venice, issuer, defaults: TEST_DEFAULTS }, port));
    await expect(startBroker({ ...options, config: busyApi })).rejects.toThrow(
      `127.0.0.1:${port} (listen.host and listen.port) is already in use (another broker or program listens there); set listen.port to a free port.`,
    );
    const busyMetrics = parseConfig(configYaml({ venice, issuer, defaults: TEST_DEFAULTS, metrics: { port } }));
    await expect(startBroker({ ...options, config: busyMetrics })).rejects.toThrow(/\(metrics\.host and metrics\.port\) is already in use/);
    for (const [code, said] of [
      ['EADDRNOTAVAIL', 'is not an address of this host'],
      ['EACCES', 'needs privileges this process lacks'],
      ['EOTHER', 'cannot be listened on (EOTHER)'],
      [undefined, 'cannot be listened on (error)'],
    ] as const) {
      expect(new ListenError('listen', { host: '10.0.0.1', port: 80 }, code).message).toContain(said);
    }
  } finally {
    await closeServer(taken);
    await issuer.stop();
    await venice.stop();
  }
});
