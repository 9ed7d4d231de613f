/**
 * The one place HTTP requests leave the action, and the bottom layer: it depends on nothing else in src.
 *
 * - One connection per origin per step: each transport keeps one keep-alive socket per scheme, so create
 *   and verify (or get and delete, or list and its deletes) share one TCP connection and one TLS handshake.
 * - Every request has a timeout covering connect, headers and body, and every answer is read with a size
 *   cap: a longer body is abandoned as it streams in, never buffered whole.
 * - Redirects are never followed (neither node:http nor undici's request follows them), so an
 *   Authorization header cannot be carried to another host.
 * - Direct requests use Node's own http/https (no start-up cost). With HTTPS_PROXY / HTTP_PROXY set
 *   (either case; NO_PROXY honoured), undici's EnvHttpProxyAgent is loaded through undici's public entry,
 *   only then. Loopback is always reached directly.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  url: URL;
  headers: Record<string, string>;
  body?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** The request never got a usable answer: refused, reset, timed out, cancelled, or too long to read. */
export class NoResponseError extends Error {
  constructor(
    readonly reason: 'timeout' | 'cancelled' | 'network' | 'too-large',
    detail: string,
    /** The request never left: the connection was refused or the host not found, so nothing was acted on. */
    readonly neverSent = false,
    /** The network failure in short ("connection refused", "host not found", …), when there was one. */
    readonly failure?: string,
  ) {
    super(detail);
    this.name = 'NoResponseError';
  }
}

/** Answers are small (a list of 500 keys is about 400 kB); anything past this is not Venice talking. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

interface RawAnswer {
  status: number;
  headers: HttpResponse['headers'];
  body: Readable;
}

export interface HttpTransport {
  send(request: HttpRequest): Promise<HttpResponse>;
}

/**
 * One transport per step: its sockets are reused by every request the step sends. The broker, which
 * serves many callers at once, asks for more than one socket.
 */
export function createTransport(env: Record<string, string | undefined>, maxBodyBytes = MAX_BODY_BYTES, sockets = 1): HttpTransport {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: sockets }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: sockets }),
  };
  const useProxy = PROXY_VARIABLES.some((name) => env[name]);
  let proxied: Promise<(request: HttpRequest, signal: AbortSignal) => Promise<RawAnswer>> | undefined;

  const direct = (request: HttpRequest, signal: AbortSignal): Promise<RawAnswer> =>
    new Promise((resolve, reject) => {
      const agent = request.url.protocol === 'https:' ? agents['https:'] : agents['http:'];
      const send = request.url.protocol === 'https:' ? https.request : http.request;
      const outgoing = send(request.url, { method: request.method, headers: request.headers, agent, signal }, (incoming) =>
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: incoming }),
      );
      outgoing.on('error', reject);
      outgoing.end(request.body);
    });

  return {
    async send(request) {
      // AbortSignal.timeout takes whole milliseconds only; a fraction would throw.
      const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(request.timeoutMs)));
      const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
      try {
        let answer: RawAnswer;
        if (useProxy && !isLoopbackHost(request.url.hostname)) {
          proxied ??= loadProxy(env, sockets);
          answer = await (await proxied)(request, signal);
        } else {
          answer = await direct(request, signal);
        }
        return { status: answer.status, headers: answer.headers, text: await readCapped(answer, maxBodyBytes) };
      } catch (error) {
        if (error instanceof NoResponseError) throw error;
        if (request.signal?.aborted) throw new NoResponseError('cancelled', 'cancelled');
        if (timeout.aborted) throw new NoResponseError('timeout', `no answer within ${Math.round(request.timeoutMs / 100) / 10}s`);
        const text = networkErrorText(error);
        // Named with the address (never the path, which may carry an id, nor a header).
        throw new NoResponseError('network', `could not reach ${request.url.origin}: ${text}`, NEVER_SENT.has(text), text);
      }
    },
  };
}

/**
 * undici, through its public entry, only for a proxied request: one connection to the proxy as well.
 * The proxy settings come from the environment the step was given, as the runner sets them.
 */
async function loadProxy(
  env: Record<string, string | undefined>,
  sockets: number,
): Promise<(request: HttpRequest, signal: AbortSignal) => Promise<RawAnswer>> {
  const { EnvHttpProxyAgent, request: undiciRequest } = await import('undici');
  const httpProxy = env.HTTP_PROXY ?? env.http_proxy;
  const httpsProxy = env.HTTPS_PROXY ?? env.https_proxy ?? httpProxy;
  const noProxy = env.NO_PROXY ?? env.no_proxy;
  const dispatcher = new EnvHttpProxyAgent({
    connections: sockets,
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    ...(noProxy ? { noProxy } : {}),
  });
  return async (request, signal) => {
    const answer = await undiciRequest(request.url, {
      dispatcher,
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
    });
    return { status: answer.statusCode, headers: answer.headers, body: answer.body };
  };
}

/** The body as text, abandoning it (and its connection) once it passes the cap. */
async function readCapped(answer: RawAnswer, maxBodyBytes: number): Promise<string> {
  const declared = Number(answer.headers['content-length']);
  const tooLarge = (): NoResponseError => {
    answer.body.destroy();
    return new NoResponseError('too-large', `an answer larger than ${Math.round(maxBodyBytes / 1024 / 1024)} MiB`);
  };
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of answer.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Failures that mean the request never reached the server. */
const NEVER_SENT = new Set(['connection refused', 'host not found']);

/** A short description of a network failure: its code, never the request (which holds a header with a key). */
export function networkErrorText(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  const code = (error as { code?: string }).code ?? cause?.code;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return 'an answer larger than allowed';
  return code ? `network error ${code}` : 'network error';
}
