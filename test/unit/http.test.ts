import { Agent, EnvHttpProxyAgent } from 'undici';
import { expect, test } from 'vitest';
import { dispatcherFor, networkErrorText } from '../../src/http.ts';

const proxied = { HTTPS_PROXY: 'http://proxy.invalid:3128' };

test('loopback is always reached directly, even with a proxy configured', async () => {
  for (const url of ['http://127.0.0.1:1/', 'http://[::1]:1/', 'http://localhost:1/']) {
    expect((await dispatcherFor(new URL(url), proxied)).constructor.name).toBe(Agent.name);
  }
});

test('without proxy variables every host is reached directly', async () => {
  expect((await dispatcherFor(new URL('https://api.venice.ai/'), {})).constructor.name).toBe(Agent.name);
});

test.each(['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'])(
  '%s sends other hosts through the proxy agent, made once',
  async (name) => {
    const first = await dispatcherFor(new URL('https://api.venice.ai/'), { [name]: 'http://proxy.invalid:3128' });
    expect(first.constructor.name).toBe(EnvHttpProxyAgent.name);
    expect(await dispatcherFor(new URL('https://other.example/'), proxied)).toBe(first);
  },
);

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
