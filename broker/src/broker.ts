/**
 * Starts a broker: the config, the admin key, and the collaborators a test may replace (the clock, the
 * retry policy's sleep, where audit and log lines go). server.ts calls it with the real ones.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { Deadline } from '../../core/deadline.js';
import { createTransport } from '../../core/http.js';
import { defaultRetryPolicy, type RetryPolicy } from '../../core/retry.js';
import { retryAfterMs, VeniceClient } from '../../core/venice-client.js';
import { brokerApp } from './app.js';
import { type Audit, auditLine, RefusalLog } from './audit.js';
import { CallerLimits } from './caller-limits.js';
import { callerVerifier } from './caller-token.js';
import type { BrokerConfig } from './config.js';
import { FairQueue } from './fair-queue.js';
import { GitHubWebhook } from './github-webhook.js';
import { IssuerKeys } from './issuer-keys.js';
import { KeyListing } from './key-listing.js';
import { adviceForBrokerCaller } from './venice-advice.js';
import { VeniceGuard } from './venice-guard.js';

export interface BrokerOptions {
  config: BrokerConfig;
  adminKey: string;
  /** For proxy settings (HTTPS_PROXY, NO_PROXY) on the way to Venice. */
  env: Record<string, string | undefined>;
  now?: () => number;
  policy?: RetryPolicy;
  /** Where audit lines go (one JSON object per line): stdout, in server.ts. */
  writeAudit: (line: string) => void;
  /** Where operational lines go: stderr, in server.ts. */
  writeLog: (line: string) => void;
  /** The GitHub webhook's secret (from the variable github-webhook.secret-env names). */
  webhookSecret?: string | undefined;
}

export interface RunningBroker {
  url: string;
  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs` (a create in flight is never cut
   * off by a deploy unless it takes longer), then closes what is left.
   */
  close: (graceMs?: number) => Promise<void>;
}

/** How long the broker works on one request against Venice (the queue wait comes on top). */
const VENICE_BUDGET_MS = 60_000;
/** How long one listing of the account's keys serves every request that needs it. */
const LISTING_TTL_MS = 2_000;
/** Refusals before a rule matched that get a line of their own each minute; the rest are counted. */
const REFUSAL_LINES_PER_MINUTE = 20;

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { config, adminKey } = options;
  const now = options.now ?? Date.now;
  const policy = { ...(options.policy ?? defaultRetryPolicy), rateLimitWindowMs: config.limits.createWindowMs };
  const { writeAudit, writeLog } = options;
  const log = { info: (message: string) => writeLog(message), warning: (message: string) => writeLog(`warning: ${message}`) };
  const guard = new VeniceGuard(config.limits.createWindowMs, now, (response) => retryAfterMs(response.headers, now()));
  const transport = guard.watch(createTransport(options.env, undefined, 8));
  const audit: Audit = (record) => writeAudit(auditLine(record, now()));
  const venice = (signal?: AbortSignal): VeniceClient =>
    new VeniceClient({
      apiUrl: config.venice.apiUrl,
      adminKey,
      transport,
      deadline: Deadline.forStep(VENICE_BUDGET_MS, now),
      policy,
      log: (message) => writeLog(message),
      // Waits end when the caller hangs up; a create or delete in flight is always let to finish.
      signal,
      advise: adviceForBrokerCaller,
    });
  const keys = new IssuerKeys({
    url: config.oidc.jwksUrl,
    refreshMs: config.oidc.jwksRefreshMs,
    staleForMs: config.oidc.jwksStaleForMs,
    cooldownMs: config.oidc.jwksCooldownMs,
    now,
    onFetch: (result, detail) => {
      if (result === 'failed') log.warning(`could not fetch the issuer's keys from ${config.oidc.jwksUrl}: ${detail}`);
    },
  });
  await keys.start();
  const refusals = new RefusalLog({
    linesPerWindow: REFUSAL_LINES_PER_MINUTE,
    windowMs: 60_000,
    now,
    write: writeAudit,
    audit,
  });
  const operations = {
    config,
    adminKey,
    now,
    mintsInFlight: new Map<string, number>(),
    log,
    queue: new FairQueue({
      perWindow: config.limits.createsPerMinute,
      windowMs: config.limits.createWindowMs,
      timeoutMs: config.limits.queueTimeoutMs,
      now,
      sleep: (ms: number, signal?: AbortSignal) => policy.sleep(ms, signal),
    }),
    listing: new KeyListing(() => venice().listKeys(), LISTING_TTL_MS, now),
    guard,
    venice,
  };
  const webhook =
    config.githubWebhook && options.webhookSecret
      ? new GitHubWebhook(
          { ...operations, secret: options.webhookSecret, audit, sleep: (ms) => policy.sleep(ms) },
          config.githubWebhook.reconcileIntervalMs,
        )
      : undefined;
  const app = brokerApp({
    ...operations,
    webhook,
    verifyCaller: callerVerifier(config.oidc, keys, now),
    audit,
    refusals,
    limits: new CallerLimits(config.rules, config.limits.refusalsPerAddress),
  });
  const timeout = config.limits.requestTimeoutMs;
  return new Promise((resolve) => {
    const server = serve(
      {
        fetch: app.fetch,
        hostname: config.listen.host,
        port: config.listen.port,
        // Slow clients: a request must arrive whole within the timeout, checked at a fraction of it.
        serverOptions: {
          requestTimeout: timeout,
          headersTimeout: timeout,
          keepAliveTimeout: config.limits.keepAliveTimeoutMs,
          connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(timeout / 4))),
        },
      },
      (info: AddressInfo) => {
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        resolve({
          url: `http://${host}:${info.port}`,
          close: (graceMs = 0) =>
            new Promise<void>((done) => {
              const http = server as Server;
              http.close(() => {
                refusals.close();
                void (webhook?.close() ?? Promise.resolve()).then(done);
              });
              http.closeIdleConnections();
              setTimeout(() => http.closeAllConnections(), graceMs).unref();
            }),
        });
      },
    ) as Server;
    capConnections(server, config.limits.maxConnections);
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      // Node's own answer to a request that never arrived whole is an empty 408/400: say it in JSON.
      const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      if (socket.writable) {
        const body = JSON.stringify({
          error: timedOut ? 'the request did not arrive whole within the request timeout.' : 'the request is not valid HTTP.',
        });
        socket.end(
          `HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\ncontent-type: application/json\r\n` +
            `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      } else {
        socket.destroy();
      }
      refusals.record(
        { action: 'request', outcome: 'refused', status: timedOut ? 408 : 400, reason: timedOut ? 'request timeout' : 'not HTTP' },
        timedOut ? 'request-timeout' : 'bad-http',
        socket.remoteAddress ?? 'unknown',
      );
    });
  });
}

/**
 * At most `max` open connections. At the cap, an idle keep-alive connection (no request in progress)
 * is closed to make room, oldest first; when none is idle, the new connection is closed at once.
 */
function capConnections(server: Server, max: number): void {
  /** Open connections, oldest first, each with its requests in progress. */
  const open = new Map<Socket, { busy: number }>();
  server.on('connection', (socket: Socket) => {
    if (open.size >= max) {
      const idle = [...open].find(([, state]) => state.busy === 0)?.[0];
      if (idle) {
        open.delete(idle);
        idle.destroy();
      } else {
        socket.destroy();
        return;
      }
    }
    open.set(socket, { busy: 0 });
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (request, response) => {
    // Every request arrives on a connection counted above (one closed at the cap sends none); one that
    // was closed to make room meanwhile counts nowhere, harmlessly.
    const state = open.get(request.socket as Socket) ?? { busy: 0 };
    state.busy++;
    response.once('close', () => {
      state.busy--;
    });
  });
}
