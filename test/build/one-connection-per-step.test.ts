// One TCP connection and one TLS handshake per step, counted on a TLS test server (not timed): create and
// verify in main, read and delete in post, list and each read and delete in revoke all share one.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { runStep, stepsRun } from '../../fakes/runner.ts';
import { makeCertificate } from '../../fakes/test-certificate.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { expectNoLeaks } from '../../testkit/leaks.ts';
import { addOwnedKey } from '../../testkit/seed-keys.ts';

const certificate = makeCertificate('localhost');
let server: VeniceServer;
// A TLS server of its own (the bed's is plain http), so the leak scan is called here.
beforeEach(async () => {
  stepsRun.length = 0;
  server = await new VeniceServer({ tls: { key: certificate.key, cert: certificate.cert, hostname: 'localhost' } }).start();
});
afterEach(async () => {
  await server.stop();
  expectNoLeaks(server);
});

const counts = async (run: () => Promise<unknown>): Promise<[number, number]> => {
  const before = [server.connections, server.handshakes];
  await run();
  return [server.connections - before[0]!, server.handshakes - before[1]!];
};

test('main, post and revoke each open exactly one connection and one TLS handshake', async () => {
  const inputs = { 'admin-key': server.adminKey, 'api-url': server.apiUrl };
  const env = { NODE_EXTRA_CA_CERTS: certificate.certPath };
  let state: Record<string, string> = {};
  expect(await counts(async () => ({ state } = await runStep('main', { inputs, env })))).toEqual([1, 1]);
  expect(server.requests.map((r) => r.call)).toEqual(['create', 'verify']);
  expect(await counts(() => runStep('post', { inputs, env, state }))).toEqual([1, 1]);
  for (let i = 0; i < 3; i++) addOwnedKey(server, { pr: 7, scope: 'pr', slot: `s${i}` });
  expect(await counts(() => runStep('main', { inputs: { ...inputs, mode: 'revoke', 'pr-number': '7' }, env }))).toEqual([1, 1]);
  expect(server.requests.slice(4).map((r) => r.call)).toEqual(['list', 'get', 'delete', 'get', 'delete', 'get', 'delete']);
  expect(server.liveKeys()).toEqual([]);
});

test('the count is real: two steps are two connections', async () => {
  const inputs = { 'admin-key': server.adminKey, 'api-url': server.apiUrl, verify: 'false' };
  const env = { NODE_EXTRA_CA_CERTS: certificate.certPath };
  expect(await counts(() => Promise.all([runStep('main', { inputs, env }), runStep('main', { inputs, env })]))).toEqual([2, 2]);
});
