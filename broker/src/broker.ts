/**
 * Starts a broker: the config, the admin key, and the collaborators a test may replace (the clock, the
 * retry policy's sleep, where audit and log lines go). server.ts calls it with the real ones.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Deadline } from '../../src/deadline.js';
import { createTransport } from '../../src/http.js';
import { defaultRetryPolicy, type RetryPolicy } from '../../src/retry.js';
import { VeniceClient } from '../../src/venice-client.js';
import { brokerApp } from './app.js';
import { type Audit, auditLine } from './audit.js';
import { callerVerifier } from './caller-token.js';
import type { BrokerConfig } from './config.js';
import { CreateQueue } from './create-queue.js';

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
  /** How soon an unknown `kid` may fetch the issuer's keys again (jose's cooldown; 30 s by default). */
  jwksCooldownMs?: number;
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

export function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { config, adminKey } = options;
  const now = options.now ?? Date.now;
  const policy = options.policy ?? defaultRetryPolicy;
  const { writeAudit, writeLog } = options;
  const transport = createTransport(options.env, undefined, 8);
  const audit: Audit = (record) => writeAudit(auditLine(record, now()));
  const app = brokerApp({
    config,
    adminKey,
    now,
    verifyCaller: callerVerifier(config.oidc, now, options.jwksCooldownMs),
    audit,
    mintsInFlight: new Map(),
    log: { info: (message) => writeLog(message), warning: (message) => writeLog(`warning: ${message}`) },
    queue: new CreateQueue({
      perWindow: config.limits.createsPerMinute,
      windowMs: policy.rateLimitWindowMs,
      timeoutMs: config.limits.queueTimeoutMs,
      now,
      sleep: policy.sleep,
    }),
    venice: (signal) =>
      new VeniceClient({
        apiUrl: config.venice.apiUrl,
        adminKey,
        transport,
        deadline: Deadline.forStep(VENICE_BUDGET_MS, now),
        policy,
        log: (message) => writeLog(message),
        // Waits end when the caller hangs up; a create or delete in flight is always let to finish.
        signal,
      }),
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
          keepAliveTimeout: 5_000,
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
              http.close(() => done());
              http.closeIdleConnections();
              setTimeout(() => http.closeAllConnections(), graceMs).unref();
            }),
        });
      },
    );
  });
}
