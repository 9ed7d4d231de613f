import type { Dispatcher } from 'undici';
import dispatchRequest from 'undici/lib/api/api-request.js';
import Agent from 'undici/lib/dispatcher/agent.js';
import { isLoopbackHost } from './inputs.js';

/**
 * The one place HTTP requests leave the action. Every request has a timeout; redirects are never
 * followed (undici's request API does not follow them), so an Authorization header cannot be carried to
 * another host. Proxies come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case), as self-hosted
 * runners behind a corporate proxy need; loopback is always reached directly.
 */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** The request never got an answer: refused, reset, timed out or cancelled. */
export class NoResponseError extends Error {
  constructor(
    readonly reason: 'timeout' | 'cancelled' | 'network',
    detail: string,
  ) {
    super(detail);
    this.name = 'NoResponseError';
  }
}

let directAgent: Dispatcher | undefined;
let proxyAgent: Promise<Dispatcher> | undefined;
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

/**
 * Loopback, and any host when no proxy is configured, is reached directly. The proxy agent (which reads
 * the proxy variables, NO_PROXY included) is loaded only when a proxy is configured: the start-up of
 * every step pays only for the parts of undici a direct request needs (README, Performance).
 */
export async function dispatcherFor(url: URL, env: Record<string, string | undefined> = process.env): Promise<Dispatcher> {
  if (isLoopbackHost(url.hostname) || !PROXY_VARIABLES.some((name) => env[name])) {
    directAgent ??= new Agent();
    return directAgent;
  }
  // The whole of undici is loaded here: its proxy agent relies on the request API its index installs.
  proxyAgent ??= import('undici').then(({ EnvHttpProxyAgent }) => new EnvHttpProxyAgent());
  return proxyAgent;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: URL;
  headers: Record<string, string>;
  body?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export async function sendRequest(req: HttpRequest): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  try {
    const response = await dispatchRequest.call(await dispatcherFor(req.url), {
      origin: req.url.origin,
      path: req.url.pathname + req.url.search,
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal,
    });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers, text };
  } catch (error) {
    if (req.signal?.aborted) throw new NoResponseError('cancelled', 'cancelled');
    // The timeout signal covers connecting, headers and body alike (undici's own timeouts are longer).
    if (timeout.aborted) throw new NoResponseError('timeout', `no answer within ${Math.round(req.timeoutMs / 100) / 10}s`);
    throw new NoResponseError('network', networkErrorText(error));
  }
}

/** A short description of a network failure: its code, never the request (which holds a header with a key). */
export function networkErrorText(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  const code = (error as { code?: string }).code ?? cause?.code;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  return code ? `network error ${code}` : 'network error';
}
