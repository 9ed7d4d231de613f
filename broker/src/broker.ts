/**
 * Starts a broker: the config, the admin key, and the collaborators a test may replace (the clock, the
 * retry policy's sleep, where audit and log lines go). server.ts calls it with the real ones.
 */
import type { Server } from 'node:http';
import { type AddressInfo, Server as NetServer, type Socket } from 'node:net';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Deadline } from '../../core/deadline.js';
import { messageOf } from '../../core/errors.js';
import { createTransport, type HttpRequest, type HttpTransport } from '../../core/http.js';
import { defaultRetryPolicy, type RetryPolicy } from '../../core/retry.js';
import { VeniceClient } from '../../core/venice-client.js';
import { retryAfterMs, VeniceError } from '../../core/venice-errors.js';
import { type AppHealth, addHealthRoutes, brokerApp, type Readiness } from './http/app.js';
import { CallerLimits } from './http/caller-limits.js';
import { ConnectionCap } from './http/connection-cap.js';
import { RecentActivity, StatusBoard } from './http/status.js';
import { addStatusRoutes } from './http/status-page.js';
import { GitHubWebhook } from './keys/github-webhook.js';
import { KeyListing } from './keys/key-listing.js';
import { LeaseBook } from './keys/lease-book.js';
import { type PoolDeps, WarmPool } from './keys/pool.js';
import { Reconciler } from './keys/reconciler.js';
import { recordKeys } from './keys/sealed-records.js';
import { adviceForBrokerCaller, BROKER_VENICE_DEADLINE } from './keys/venice-advice.js';
import { VeniceGuard } from './keys/venice-guard.js';
import { type Audit, auditLine, RefusalLog } from './observe/audit.js';
import { jsonLog } from './observe/log.js';
import { BrokerMetrics } from './observe/metrics.js';
import { BROKER_VERSION } from './observe/version.js';
import { callerVerifier } from './policy/caller-token.js';
import { clientAddress } from './policy/client-address.js';
import type { BrokerConfig } from './policy/config.js';
import { IssuerKeys } from './policy/issuer-keys.js';
import { memoryState } from './state/memory-state.js';
import { redisState } from './state/redis-state.js';
import type { SharedState } from './state/shared-state.js';

export interface BrokerOptions {
  config: BrokerConfig;
  adminKey: string;
  /** For proxy settings (HTTPS_PROXY, NO_PROXY) on the way to Venice, and the Redis URL's variable. */
  env: Record<string, string | undefined>;
  now?: () => number;
  policy?: RetryPolicy;
  /** Where audit lines go (one JSON object per line): stdout, in server.ts. */
  writeAudit: (line: string) => void;
  /** Where operational lines go (one JSON object per line, see log.ts): stderr, in server.ts. */
  writeLog: (line: string) => void;
  /** The GitHub webhook's secret (from the variable github-webhook.secret-env names). */
  webhookSecret?: string | undefined;
  /** Check the admin key with Venice before listening (server.ts does; AdminKeyRefused when Venice says no). */
  checkAdminKey?: boolean;
  /** Venice could not be asked about the admin key (out of reach): said, and the broker starts anyway. */
  onAdminKeyUnchecked?: (why: string) => void;
}

export interface RunningBroker {
  url: string;
  /** The metrics listener's URL (the internal listener; undefined with metrics.listener: api). */
  metricsUrl: string | undefined;
  /**
   * Drains and stops: /readyz answers 503 at once, no new connections are accepted, queued callers are
   * answered 503 with Retry-After, and requests in flight (creates) get up to `graceMs` to finish.
   */
  close: (graceMs?: number) => Promise<void>;
}

/** How long one listing of the account's keys serves every request that needs it. */
const LISTING_TTL_MS = 2_000;
/** How long idle keep-alive connections stay open once a drain begins (bounded by keep-alive-timeout). */
const DRAIN_LINGER_MS = 2_000;
/** Refusals before a rule matched that get a line of their own each minute; the rest are counted. */
const REFUSAL_LINES_PER_MINUTE = 20;

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { config, adminKey } = options;
  const now = options.now ?? Date.now;
  // A create that meets a 429 without Retry-After looks again every 2–6 s (a sixteenth of the window and
  // more), so it is through within seconds of Venice's window opening (429s are not failures to Venice).
  const policy = { ...(options.policy ?? defaultRetryPolicy), rateLimitWindowMs: config.limits.createWindowMs / 2 };
  const log = jsonLog(options.writeLog, now);
  const metrics = new BrokerMetrics({
    queueDepth: () => state.queue.depth(),
    windowCreates: () => state.queue.windowCreates(),
    ready: async () => (await health.ready()).ready,
    heldForMs: () => state.brake.heldForMs(),
    queueTimeoutMs: config.limits.queueTimeoutMs,
  });
  const state = await openState(options, { policy, now, log, metrics });
  const guard = new VeniceGuard(
    config.limits.createWindowMs,
    state.brake,
    (response) => retryAfterMs(response.headers, now()),
    () => state.queue.windowFreesInMs(),
  );
  const transport = guard.watch(metered(createTransport(options.env, undefined, 8), metrics));
  const { audit, refusals, activity } = auditing(options.writeAudit, metrics, now);
  const venice = veniceClients(options, { transport, policy, log, now });
  if (options.checkAdminKey) await checkAdminKeyAtStart(venice, options, state);
  const keys = issuerKeys(config, { metrics, activity, log, now });
  await keys.start();
  const drain = new AbortController();
  const listing = new KeyListing(() => venice().listKeys(), LISTING_TTL_MS, now);
  const records = recordKeys(adminKey);
  // A failed deletion is tried again with backoff; github-webhook.delete-retry-max-wait is the longest wait.
  const leases = new LeaseBook(state.leases, records, log, {
    firstMs: config.limits.orphanScanIntervalMs,
    maxMs: Math.max(config.limits.orphanScanIntervalMs, config.githubWebhook?.deleteRetryMaxWaitMs ?? 600_000),
  });
  const pool = config.pool && new WarmPool(poolDeps(config.pool, { config, state, venice, listing, log, now, metrics }));
  metrics.poolSize.set(config.pool?.size ?? 0);
  const operations = { config, adminKey, now, log, state, leases, records, audit, listing, guard, venice, metrics, pool };
  const deps = { ...operations, draining: drain.signal };
  const webhook =
    config.githubWebhook && options.webhookSecret
      ? new GitHubWebhook({ ...deps, secret: options.webhookSecret, webhook: config.githubWebhook })
      : undefined;
  const reconciler = new Reconciler({ ...operations, venice: () => venice().forCleanup(), intervalMs: config.limits.orphanScanIntervalMs });
  const health = {
    /** Ready: not draining, the issuer's keys held, the store answering. */
    ready: async (): Promise<Readiness> => {
      const store = await state.ready();
      const checks = { draining: drain.signal.aborted, jwks: keys.held(), store: store === 'ok' };
      return { ready: !checks.draining && checks.jwks && checks.store, checks, ...(store === 'ok' ? {} : { storeProblem: store }) };
    },
    metrics: async () => ({ type: metrics.registry.contentType, text: await metrics.registry.metrics() }),
  };
  const connections = new ConnectionCap(config.limits.maxConnections);
  const app = brokerApp({
    ...deps,
    webhook,
    verifyCaller: callerVerifier(config.oidc, keys, now),
    refusals,
    limits: new CallerLimits(config.rules, config.limits.refusalsPerAddress, state, () => metrics.storeErrors.inc()),
    health: { ...health, metricsHere: config.metrics.listener === 'api' },
    connections,
    clientAddress: clientAddress(config.listen.trustedProxies),
  });
  const board = statusBoard({ config, state, leases, venice, keys, activity, now, pool });
  const { api, metricsListener } = await listeners(config, app, internalApp(health, board));
  connections.watch(api.server);
  api.server.on('clientError', answerUnreadable(refusals));
  reconciler.start();
  pool?.start();
  const stopping = { drain, api, metricsListener, refusals, pool, reconciler, webhook, state };
  return { url: api.url, metricsUrl: metricsListener?.url, close: (graceMs = 0) => stop(config, stopping, graceMs) };
}

type Listener = { server: Server; url: string };

/** A Venice client per request: its waits end when the caller hangs up; a create or delete in flight is always let to finish. */
function veniceClients(
  options: BrokerOptions,
  parts: { transport: HttpTransport; policy: RetryPolicy; log: ReturnType<typeof jsonLog>; now: () => number },
): (signal?: AbortSignal) => VeniceClient {
  const { config, adminKey } = options;
  return (signal) =>
    new VeniceClient({
      apiUrl: config.venice.apiUrl,
      adminKey,
      transport: parts.transport,
      deadline: Deadline.forStep(config.limits.veniceTimeoutMs, parts.now, BROKER_VENICE_DEADLINE),
      policy: parts.policy,
      log: (message) => parts.log.info(message),
      signal,
      advise: adviceForBrokerCaller,
    });
}

/** The store: Redis for replicas (on Redis's clock), or this process's memory (on the broker's). */
async function openState(
  options: BrokerOptions,
  parts: { policy: RetryPolicy; now: () => number; log: ReturnType<typeof jsonLog>; metrics: BrokerMetrics },
): Promise<SharedState> {
  const { config } = options;
  const queueOptions = {
    perWindow: config.limits.createsPerMinute,
    windowMs: config.limits.createWindowMs,
    timeoutMs: config.limits.queueTimeoutMs,
    sleep: (ms: number, signal?: AbortSignal) => parts.policy.sleep(ms, signal),
  };
  if (!config.store.redisUrlEnv) return memoryState({ ...queueOptions, now: parts.now, stateDir: config.store.stateDir });
  return redisState({
    ...queueOptions,
    // Redis's queue runs on Redis's clock (real time), whatever clock this process is given.
    sleep: (ms: number, signal?: AbortSignal) => sleepFor(ms, undefined, { signal }),
    url: options.env[config.store.redisUrlEnv] ?? '',
    commandTimeoutMs: config.store.commandTimeoutMs,
    onError: () => parts.metrics.storeErrors.inc(),
    log: parts.log,
  });
}

/**
 * The audit log and everything that counts what it says: the metrics, the refusals before a rule
 * (aggregated), and the status page's recent activity.
 */
function auditing(writeAudit: (line: string) => void, metrics: BrokerMetrics, now: () => number) {
  const activity = new RecentActivity(now);
  const refused = (reason: string): void => {
    metrics.refusals.labels(reason).inc();
    activity.refused(reason);
  };
  const audit: Audit = (record) => {
    const ended = record.leaseEnded ?? record.endsLease;
    if (ended) {
      metrics.leasesEnded.labels(ended).inc();
      activity.ended(ended);
    }
    if (!record.leaseEnded) metrics.requests.labels(record.action, record.outcome).inc();
    if (record.outcome === 'refused') refused(refusalReason(record.status));
    activity.saw(record);
    writeAudit(auditLine(record, now()));
  };
  const refusals = new RefusalLog({
    linesPerWindow: REFUSAL_LINES_PER_MINUTE,
    windowMs: 60_000,
    now,
    write: writeAudit,
    audit: (record) => writeAudit(auditLine(record, now())),
    counted: (record, kind) => {
      metrics.requests.labels(record.action, record.outcome).inc();
      refused(kind);
      activity.saw(record);
    },
  });
  return { audit, refusals, activity };
}

/** GitHub's keys, each fetch counted and shown on the status page, a failed one said in the log. */
function issuerKeys(
  config: BrokerConfig,
  parts: { metrics: BrokerMetrics; activity: RecentActivity; log: ReturnType<typeof jsonLog>; now: () => number },
): IssuerKeys {
  return new IssuerKeys({
    url: config.oidc.jwksUrl,
    refreshMs: config.oidc.jwksRefreshMs,
    staleForMs: config.oidc.jwksStaleForMs,
    cooldownMs: config.oidc.jwksCooldownMs,
    now: parts.now,
    onFetch: (result, detail) => {
      parts.metrics.jwksRefreshes.labels(result).inc();
      parts.activity.jwksFetched(result);
      if (result === 'failed') parts.log.warning(`could not fetch the issuer's keys from ${config.oidc.jwksUrl}: ${detail}`);
    },
  });
}

/** The start-up check: a refused admin key stops the start (the store closed); Venice out of reach is said. */
async function checkAdminKeyAtStart(
  venice: (signal?: AbortSignal) => VeniceClient,
  options: BrokerOptions,
  state: SharedState,
): Promise<void> {
  await checkAdminKey(venice, options.config).catch(async (error: unknown) => {
    if (!(error instanceof AdminKeyRefused)) return options.onAdminKeyUnchecked?.(messageOf(error));
    await state.close();
    throw error;
  });
}

/** The internal listener (unless metrics are on the API's), then the API listener. */
async function listeners(
  config: BrokerConfig,
  app: Hono,
  internal: Hono,
): Promise<{ api: Listener; metricsListener: Listener | undefined }> {
  const metricsListener =
    config.metrics.listener === 'internal' ? await listen(internal.fetch, config.metrics, config, 'metrics') : undefined;
  const api = await listen(app.fetch, config.listen, config, 'listen').catch(async (error: unknown) => {
    await new Promise<void>((done) => (metricsListener ? metricsListener.server.close(() => done()) : done()));
    throw error;
  });
  return { api, metricsListener };
}

/** Node's own answer to a request that never arrived whole is an empty 408/400: said in JSON, and counted. */
function answerUnreadable(refusals: RefusalLog): (error: NodeJS.ErrnoException, socket: Socket) => void {
  return (error, socket) => {
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
  };
}

/** What a drain stops, in order. */
interface Stopping {
  drain: AbortController;
  api: Listener;
  metricsListener: Listener | undefined;
  refusals: RefusalLog;
  pool: WarmPool | undefined;
  reconciler: Reconciler;
  webhook: GitHubWebhook | undefined;
  state: SharedState;
}

/** A drain: see RunningBroker.close. */
async function stop(config: BrokerConfig, parts: Stopping, graceMs: number): Promise<void> {
  const { api } = parts;
  parts.drain.abort(); // readyz 503, queued callers answered 503, no new mints
  const poolClosed = parts.pool?.close(); // no more refills; the pool's keys are deleted
  // Stop accepting (net.Server's close: http.Server's would also close idle keep-alive connections at
  // once). Open connections linger a moment, so a load balancer's health check on one reads /readyz 503
  // (every answer now says Connection: close) rather than a reset; then idle ones are closed.
  const stopped = new Promise<void>((done) => NetServer.prototype.close.call(api.server, () => done()));
  const linger = setTimeout(() => api.server.closeIdleConnections(), Math.min(graceMs, config.limits.keepAliveTimeoutMs, DRAIN_LINGER_MS));
  const cutOff = setTimeout(() => api.server.closeAllConnections(), graceMs);
  cutOff.unref();
  await stopped;
  clearTimeout(linger);
  clearTimeout(cutOff);
  parts.refusals.close();
  await poolClosed;
  await parts.reconciler.stop();
  await parts.webhook?.close();
  await parts.state.close();
  const metrics = parts.metricsListener;
  if (metrics) await new Promise<void>((done) => metrics.server.close(() => done()));
}

/** The warm pool's collaborators: its turns from the shared queue, its keys counted in broker_pool_keys. */
function poolDeps(
  settings: NonNullable<BrokerConfig['pool']>,
  parts: Pick<PoolDeps, 'state' | 'venice' | 'listing' | 'log' | 'now'> & { config: BrokerConfig; metrics: BrokerMetrics },
): PoolDeps {
  const { config, metrics, ...rest } = parts;
  return {
    ...rest,
    size: settings.size,
    maxAgeMs: settings.maxAgeMs,
    activeKeys: config.limits.activeKeys,
    perWindow: config.limits.createsPerMinute,
    // Looks every sixtieth of the window (1 s): a refill follows a turn coming free within about that.
    tickMs: Math.max(50, config.limits.createWindowMs / 60),
    sized: (size) => metrics.poolKeys.set(size),
  };
}

/** The internal listener: /healthz, /readyz, /metrics and the operators' status page. */
function internalApp(health: { ready: AppHealth['ready']; metrics: AppHealth['metrics'] }, board: StatusBoard): Hono {
  const app = new Hono();
  addHealthRoutes(app, { ...health, metricsHere: true });
  addStatusRoutes(app, board);
  return app;
}

/** The status page's sources: the leases, Venice's listing, the queue, the store, the issuer's keys. */
function statusBoard(parts: {
  config: BrokerConfig;
  state: SharedState;
  leases: LeaseBook;
  venice: () => VeniceClient;
  keys: IssuerKeys;
  activity: RecentActivity;
  now: () => number;
  pool: WarmPool | undefined;
}): StatusBoard {
  const { config, state, pool } = parts;
  return new StatusBoard({
    version: BROKER_VERSION,
    now: parts.now,
    leases: () => parts.leases.list(),
    // Its own listing, kept PAGE_LISTING_TTL_MS: the page's figures are never older, and never cost more.
    listing: () => parts.venice().listKeys(),
    queue: state.queue,
    heldForMs: () => state.brake.heldForMs(),
    limits: config.limits,
    store: { kind: state.kind, health: () => state.ready() },
    jwksHeld: () => parts.keys.held(),
    webhookConfigured: config.githubWebhook !== undefined,
    activity: parts.activity,
    pool: pool && config.pool && { keys: () => pool.size(), size: config.pool.size },
  });
}

/** A listener that could not start: which setting names its address, and why (one plain line at start). */
export class ListenError extends Error {
  constructor(setting: 'listen' | 'metrics', at: { host: string; port: number }, code: string | undefined) {
    const why =
      code === 'EADDRINUSE'
        ? 'is already in use (another broker or program listens there)'
        : code === 'EADDRNOTAVAIL'
          ? 'is not an address of this host'
          : code === 'EACCES'
            ? 'needs privileges this process lacks (use a port above 1023)'
            : `cannot be listened on (${code ?? 'error'})`;
    super(`${at.host}:${at.port} (${setting}.host and ${setting}.port) ${why}; set ${setting}.port to a free port.`);
    this.name = 'ListenError';
  }
}

/**
 * The start-up check of the admin key: one read that costs no creation (GET /api_keys), through the
 * broker's own metered transport (so broker_venice_requests_total counts it). Venice saying 401 or 402
 * is AdminKeyRefused (the broker does not start); Venice out of reach is only a warning.
 */
export class AdminKeyRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminKeyRefused';
  }
}

async function checkAdminKey(venice: (signal?: AbortSignal) => VeniceClient, config: BrokerConfig): Promise<void> {
  try {
    await venice(AbortSignal.timeout(10_000)).listKeys();
  } catch (error) {
    if (error instanceof VeniceError && (error.status === 401 || error.status === 402)) {
      throw new AdminKeyRefused(
        `Venice refused the key in ${config.venice.adminKeyEnv} (${error.status}${error.veniceText ? ` "${error.veniceText}"` : ''}): it must be a Venice admin key (Settings → API keys, type Admin).`,
      );
    }
    throw error;
  }
}

async function listen(
  fetch: (request: Request, env: unknown) => Response | Promise<Response>,
  at: { host: string; port: number },
  config: BrokerConfig,
  setting: 'listen' | 'metrics',
): Promise<{ server: Server; url: string }> {
  const timeout = config.limits.requestTimeoutMs;
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch,
        hostname: at.host,
        port: at.port,
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
        resolve({ server: server as Server, url: `http://${host}:${info.port}` });
      },
    );
    server.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError(setting, at, error.code)));
  });
}

/** Counts every request the broker sends Venice, by route and status. */
function metered(transport: HttpTransport, metrics: BrokerMetrics): HttpTransport {
  return {
    send: async (request: HttpRequest) => {
      const route = BrokerMetrics.veniceRoute(request.method, request.url);
      try {
        const response = await transport.send(request);
        metrics.veniceRequests.labels(route, String(response.status)).inc();
        return response;
      } catch (error) {
        metrics.veniceRequests.labels(route, 'error').inc();
        throw error;
      }
    },
  };
}

/** A refusal's reason for broker_refusals_total, from its status (after a rule matched). */
function refusalReason(status: number): string {
  const reasons: Record<number, string> = {
    400: 'bad-request',
    403: 'policy',
    404: 'not-found',
    408: 'caller-left',
    413: 'body-too-large',
    429: 'rate-limited',
    503: 'unavailable',
  };
  return reasons[status] ?? 'other';
}
