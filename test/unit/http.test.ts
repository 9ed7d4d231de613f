// The transport on loopback servers made here: one connection reused by every request of a step, the
// size cap on answers, and how network failures are described.
import { createServer, type Server } from 'node:http';
import { afterEach, expect, test } from 'vitest';
import { createTransport, isLoopbackHost, NoResponseError, networkErrorText } from '../../core/http.ts';
import { ConnectProxy } from '../../fakes/connect-proxy.ts';
import { closeServer, listenOnLoopback } from '../../fakes/loopback.ts';

let server: Server | undefined;
afterEach(async () => {
  if (server) await closeServer(server);
  server = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  server = createServer(handler);
  server.on('connection', () => connections++);
  const port = await listenOnLoopback(server);
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

const get = (url: string) => ({ method: 'GET' as const, url: new URL(url), headers: {}, timeoutMs: 5_000 });

test('every request of one transport shares one connection; a new transport opens its own', async () => {
  const target = await serve((_req, res) => res.end('{"ok":true}'));
  const transport = createTransport({});
  for (let i = 0; i < 4; i++) expect((await transport.send(get(target.url))).text).toBe('{"ok":true}');
  expect(target.connections()).toBe(1);
  await createTransport({}).send(get(target.url));
  expect(target.connections()).toBe(2);
});

test('an answer longer than the cap is abandoned as it streams, declared length or not', async () => {
  let written = 0;
  const target = await serve((req, res) => {
    if (req.url === '/declared') res.setHeader('content-length', String(10 * 1024 * 1024));
    const pump = (): void => {
      while (written < 50 * 1024 * 1024 && !res.destroyed) {
        written += 65_536;
        if (!res.write(Buffer.alloc(65_536, 'a'))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const transport = createTransport({}, 1024 * 1024);
  for (const path of ['/declared', '/chunked']) {
    const error = await transport.send(get(target.url + path)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoResponseError);
    expect((error as NoResponseError).reason).toBe('too-large');
  }
  expect(written).toBeLessThan(50 * 1024 * 1024); // the server was stopped early, not read to the end
});

test('a request that outlives its timeout is a timeout; a cancelled one says so', async () => {
  const target = await serve(() => {}); // never answers
  const transport = createTransport({});
  const timedOut = await transport.send({ ...get(target.url), timeoutMs: 50 }).catch((e: unknown) => e);
  expect((timedOut as NoResponseError).reason).toBe('timeout');
  const controller = new AbortController();
  const pending = transport.send({ ...get(target.url), signal: controller.signal }).catch((e: unknown) => e);
  controller.abort();
  expect(((await pending) as NoResponseError).reason).toBe('cancelled');
});

test('loopback is any 127.x address, localhost and [::1]', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
  for (const host of ['128.0.0.1', 'api.venice.ai', '127.0.0.1.example', '10.0.0.1']) expect(isLoopbackHost(host)).toBe(false);
});

test.each([
  [{ code: 'ECONNRESET' }, 'connection reset'],
  [{ code: 'UND_ERR_SOCKET' }, 'connection reset'],
  [{ cause: { code: 'ECONNREFUSED' } }, 'connection refused'],
  [{ code: 'ENOTFOUND' }, 'host not found'],
  [{ code: 'EAI_AGAIN' }, 'host not found'],
  [{ code: 'CERT_HAS_EXPIRED' }, 'network error CERT_HAS_EXPIRED'],
  [{}, 'network error'],
])('%j is described as %j, never with the request', (error, text) => {
  expect(networkErrorText(error)).toBe(text);
});

test('through HTTP_PROXY, other hosts go through one tunnel on one proxy connection; loopback never does', async () => {
  const target = await serve((req, res) => res.end(JSON.stringify({ path: req.url })));
  const port = new URL(target.url).port;
  const proxy = await new ConnectProxy({ 'venice.test': '127.0.0.1' }).start();
  let proxyConnections = 0;
  proxy.onConnection(() => proxyConnections++);
  try {
    const transport = createTransport({ HTTP_PROXY: proxy.url });
    for (let i = 0; i < 3; i++) expect((await transport.send(get(`http://venice.test:${port}/x${i}`))).text).toBe(`{"path":"/x${i}"}`);
    expect(proxy.requested).toEqual([`venice.test:${port}`]); // undici tunnels (CONNECT) even to http: targets
    expect(proxyConnections).toBe(1);
    expect(target.connections()).toBe(1);
    await transport.send(get(`${target.url}/direct`));
    expect(proxy.requested).toHaveLength(1);
    expect(target.connections()).toBe(2);
  } finally {
    await proxy.stop();
  }
});
