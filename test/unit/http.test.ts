import { Agent, EnvHttpProxyAgent } from 'undici';
import { expect, test } from 'vitest';
import { dispatcherFor, networkErrorText } from '../../src/http.ts';

test('loopback is reached directly; everything else through the environment proxy agent', () => {
  expect(dispatcherFor(new URL('http://127.0.0.1:1/'))).toBeInstanceOf(Agent);
  expect(dispatcherFor(new URL('http://[::1]:1/'))).toBeInstanceOf(Agent);
  expect(dispatcherFor(new URL('https://api.venice.ai/'))).toBeInstanceOf(EnvHttpProxyAgent);
  expect(dispatcherFor(new URL('https://api.venice.ai/'))).toBe(dispatcherFor(new URL('https://other.example/')));
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
