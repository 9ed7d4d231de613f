import { Agent, type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import { isLoopbackHost } from './inputs.js';

/**
 * The one place HTTP requests leave the action. Every request has a timeout; redirects are never
 * followed (undici's request() does not follow them), so an Authorization header cannot be carried to
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
let proxyAgent: Dispatcher | undefined;

export function dispatcherFor(url: URL): Dispatcher {
  if (isLoopbackHost(url.hostname)) {
    directAgent ??= new Agent();
    return directAgent;
  }
  proxyAgent ??= new EnvHttpProxyAgent();
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
    const response = await request(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal,
      dispatcher: dispatcherFor(req.url),
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
