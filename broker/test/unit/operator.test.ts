// The operators' commands in-process (the bundle's runs are in leases-through-redis.test.ts): a store in
// memory cannot be read from outside; with a state-dir, `leases` lists what a broker handed out (text and
// JSON, with each key's spend from Venice's listing) and `revoke` ends what is selected, an audit line
// each; a revoke without a selection, or --all without --yes, is refused before anything is read.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { configYaml } from '../../../fakes/broker-process.ts';
import { jobClaims } from '../../../fakes/oidc-issuer.ts';
import { inRedis, useRedisServer, withRedis } from '../../../testkit/redis.ts';
import { stopAll } from '../../../testkit/stop.ts';
import { leasesCommand, OperatorError, revokeCommand } from '../../src/keys/operator.ts';
import { parseConfig } from '../../src/policy/config.ts';
import { call, startFakes, startTestBroker, TEST_DEFAULTS } from '../support/broker-bed.ts';

const redis = useRedisServer();

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line), env: {} } };
}

test('leases and revoke on a state-dir: listed with their spend, revoked by repository, rule or run, each audited', async () => {
  const { venice, issuer } = await startFakes();
  const dir = mkdtempSync(join(tmpdir(), 'vek-operator-'));
  const options = { venice, issuer, defaults: TEST_DEFAULTS, store: { 'state-dir': dir } };
  const broker = await startTestBroker(options);
  const mint = async (repository: string, runId: string) =>
    (await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims(repository, runId)), body: {} })).json.id as string;
  const [shop, web, other] = [await mint('octo-org/shop', '10'), await mint('octo-org/web', '11'), await mint('octo-org/web', '12')];
  await broker.stop(); // revoke on a state-dir while the broker is stopped (it rewrites the file)
  const config = parseConfig(configYaml(options));
  try {
    const listed = io();
    await leasesCommand(config, venice.adminKey, { json: false }, listed.io);
    expect(listed.out[0]).toBe('3 live lease(s)');
    expect(listed.out.slice(1).join('\n')).toMatch(
      new RegExp(`${shop}  octo-org/shop  job run 10\\.1  rule octo-org-main  expires \\S+  0 USD, 0 DIEM \\(7 days\\)`),
    );
    const json = io();
    await leasesCommand(config, venice.adminKey, { json: true, repository: 'OCTO-ORG/WEB' }, json.io);
    const rows = (JSON.parse(json.out.join('\n')) as { leases: { keyId: string; atVenice: boolean; spent: unknown }[] }).leases;
    expect(rows.map((row) => row.keyId).sort()).toEqual([web, other].sort());
    expect(rows.every((row) => row.atVenice && row.spent !== null)).toBe(true);

    await expect(revokeCommand(config, venice.adminKey, { yes: false }, io().io)).rejects.toThrow(/revoke needs what to revoke/);
    await expect(revokeCommand(config, venice.adminKey, { all: true, yes: false }, io().io)).rejects.toBeInstanceOf(OperatorError);
    await expect(revokeCommand(config, venice.adminKey, { all: true, yes: true, rule: 'x' }, io().io)).rejects.toThrow(/give it alone/);
    const byRun = io();
    venice.inject('get', { kind: 'status', status: 403 }); // the key cannot be read first: said, and deleted all the same
    expect(await revokeCommand(config, venice.adminKey, { run: '12', yes: false }, byRun.io)).toBe(1);
    expect(byRun.err[0]).toMatch(/^warning: could not read key \S+ before deleting it/);
    byRun.err.shift();
    expect(JSON.parse(byRun.out[0] as string)).toMatchObject({ action: 'revoke', by: 'operator', keyId: other, rule: 'octo-org-main' });
    expect(byRun.err).toEqual(['revoked 1 key(s) of 1 lease(s).']);
    venice.keys.delete(web); // deleted by hand at Venice meanwhile: its lease still ends, already gone
    expect(await revokeCommand(config, venice.adminKey, { all: true, yes: true }, io().io)).toBe(2);
    expect(venice.liveKeys()).toEqual([]);
    const empty = io();
    await leasesCommand(config, venice.adminKey, { json: false }, empty.io);
    expect(empty.out).toEqual(['0 live lease(s)']);
  } finally {
    await issuer.stop();
    await venice.stop();
  }
});

test('a store in memory cannot be read from outside: said, with what to use instead', async () => {
  const { venice, issuer } = await startFakes();
  try {
    const config = parseConfig(configYaml({ venice, issuer, defaults: TEST_DEFAULTS }));
    await expect(leasesCommand(config, venice.adminKey, { json: false }, io().io)).rejects.toThrow(
      /keeps its leases in its own memory .* Use store.state-dir or Redis/,
    );
  } finally {
    await issuer.stop();
    await venice.stop();
  }
});

withRedis('with Redis, the commands read the store the serving brokers share', async () => {
  await redis.start();
  const { venice, issuer } = await startFakes();
  const options = { venice, issuer, defaults: TEST_DEFAULTS, ...inRedis(redis) };
  const broker = await startTestBroker(options);
  try {
    const minted = await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', '20')), body: {} });
    const config = parseConfig(configYaml(options));
    const listed = io();
    await leasesCommand(
      config,
      venice.adminKey,
      { json: true, rule: 'octo-org-main' },
      { ...listed.io, env: { BROKER_REDIS_URL: redis.url } },
    );
    expect((JSON.parse(listed.out.join('\n')) as { leases: { keyId: string }[] }).leases.map((lease) => lease.keyId)).toEqual([
      minted.json.id,
    ]);
  } finally {
    await stopAll(broker, issuer, venice, redis);
  }
});
