import { afterEach, beforeEach, expect, test } from 'vitest';
import { ConnectProxy } from '../../fakes/connect-proxy.ts';
import { runJob, stepsRun } from '../../fakes/runner.ts';
import { makeCertificate } from '../../fakes/test-certificate.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { expectNoLeaks } from '../../testkit/leaks.ts';

// "venice.test" resolves nowhere but in the proxy: a request that succeeds went through the proxy.
const HOST = 'venice.test';
const stops: (() => Promise<void>)[] = [];
const servers: VeniceServer[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});
// These tests run their own TLS server behind a proxy, so they scan for leaks themselves.
beforeEach(() => {
  stepsRun.length = 0;
});
afterEach(() => expectNoLeaks(...servers.splice(0)));

test.each(['HTTPS_PROXY', 'https_proxy'])('%s: every Venice request goes through the proxy (CONNECT)', async (variable) => {
  const certificate = makeCertificate(HOST);
  const server = await new VeniceServer({ tls: { ...certificate, hostname: HOST } }).start();
  servers.push(server);
  const proxy = await new ConnectProxy({ [HOST]: '127.0.0.1' }).start();
  stops.push(
    () => server.stop(),
    () => proxy.stop(),
  );

  const { main, post } = await runJob({
    inputs: { 'admin-key': server.adminKey, 'api-url': server.apiUrl },
    env: { [variable]: proxy.url, NODE_EXTRA_CA_CERTS: certificate.certPath },
  });

  expect(main.exitCode, main.stdout).toBe(0);
  expect(post.exitCode).toBe(0);
  expect(server.requests.map((r) => r.call)).toEqual(['create', 'verify', 'get', 'delete']);
  // One connection to the proxy per step (main, post), one tunnel each.
  expect(proxy.requested).toHaveLength(2);
  expect(new Set(proxy.requested)).toEqual(new Set([new URL(server.url).host]));
  expect(server.liveKeys()).toEqual([]);
});

test('loopback api-url bypasses HTTP_PROXY and HTTPS_PROXY', async () => {
  const server = await new VeniceServer().start();
  servers.push(server);
  const proxy = await new ConnectProxy().start();
  stops.push(
    () => server.stop(),
    () => proxy.stop(),
  );

  const { main, post } = await runJob({
    inputs: { 'admin-key': server.adminKey, 'api-url': server.apiUrl },
    env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, http_proxy: proxy.url },
  });
  expect(main.exitCode).toBe(0);
  expect(post.exitCode).toBe(0);
  expect(proxy.requested).toEqual([]);
  expect(server.liveKeys()).toEqual([]);
});
