/**
 * The broker's Prometheus metrics, through prom-client, in a registry of its own (nothing global). Every
 * metric is declared at start, so a scrape before the first request already shows each at zero. No label
 * takes a value a caller controls: routes and reasons are the broker's own fixed words, statuses are
 * numbers, and no repository or rule name appears (an unbounded set, and a caller's choice).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { BROKER_VERSION } from './version.js';

/** Why a lease ends: one audit line each, and broker_leases_ended_total{why}. */
export const LEASE_ENDS = ['post', 'rotate', 'revoke', 'sweep', 'webhook', 'expiry', 'operator', 'failed-hand-out'] as const;
export type LeaseEnd = (typeof LEASE_ENDS)[number];

export type MetricsSources = {
  /** Callers of this replica waiting for a turn. */
  queueDepth: () => number;
  /** Creates in the current window (the whole account's, with a shared store). */
  windowCreates: () => Promise<number>;
  /** Whether /readyz says ready (1) or not (0). */
  ready?: () => Promise<boolean>;
  /** Milliseconds Venice still holds the broker off (0: not held). */
  heldForMs?: () => Promise<number>;
  /** limits.queue-timeout, so an alert compares queue waits with it. */
  queueTimeoutMs?: number;
};

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'broker_requests_total',
    help: 'Requests decided, by route and outcome (as in the audit log).',
    labelNames: ['route', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: 'broker_refusals_total',
    help: 'Refused requests, by reason (the broker’s own kinds).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'broker_queue_wait_seconds',
    help: 'How long mints waited for their turn to create.',
    buckets: [0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 90, 120],
    registers: [this.registry],
  });
  readonly veniceRequests = new Counter({
    name: 'broker_venice_requests_total',
    help: 'Requests the broker sent Venice (listings included), by route and status ("error": no answer).',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly createsInFlight = new Gauge({
    name: 'broker_creates_in_flight',
    help: "This replica's creates sent to Venice and not yet answered (what a kill -9 now would leave to reconciliation).",
    registers: [this.registry],
  });
  readonly jwksRefreshes = new Counter({
    name: 'broker_jwks_refreshes_total',
    help: "Fetches of the OIDC issuer's keys, by result.",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'broker_store_errors_total',
    help: 'Calls to the shared store (Redis) that failed.',
    registers: [this.registry],
  });
  readonly leasesEnded = new Counter({
    name: 'broker_leases_ended_total',
    help: 'Leases ended, by why (post, rotate, revoke, sweep, webhook, expiry, operator, failed-hand-out).',
    labelNames: ['why'] as const,
    registers: [this.registry],
  });
  readonly poolKeys = new Gauge({
    name: 'broker_pool_keys',
    help: "Inert keys in this replica's warm pool (0 without pool:).",
    registers: [this.registry],
  });
  readonly poolSize = new Gauge({
    name: 'broker_pool_size',
    help: 'The warm pool size configured (pool.size; 0 without a pool): what broker_pool_keys refills towards.',
    registers: [this.registry],
  });
  readonly mintSeconds = new Histogram({
    name: 'broker_mint_seconds',
    help: 'How long mints took from admission to hand-out, by source: pool (a pool key re-shaped) or create.',
    labelNames: ['source'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 90, 120],
    registers: [this.registry],
  });
  readonly orphansReconciled = new Counter({
    name: 'broker_orphans_reconciled_total',
    help: 'Keys minted but never handed out, found in the mint journal and deleted.',
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    new Gauge({
      name: 'broker_queue_depth',
      help: 'Mints of this replica waiting for a turn to create.',
      registers: [this.registry],
      collect() {
        this.set(sources.queueDepth());
      },
    });
    new Gauge({
      name: 'broker_window_creates',
      help: "Creates in Venice's current window (every replica's, with a shared store).",
      registers: [this.registry],
      async collect() {
        // A store out of reach: NaN (unknown), and the error counted where it happened.
        this.set(await sources.windowCreates().catch(() => Number.NaN));
      },
    });
    this.declareHealth(sources);
    for (const outcome of ['granted', 'clamped', 'refused', 'deleted', 'already-gone', 'failed']) {
      for (const route of ['mint', 'delete', 'unwrap', 'revoke', 'list', 'sweep', 'webhook', 'reconcile', 'request']) {
        this.requests.labels(route, outcome);
      }
    }
    for (const result of ['ok', 'failed']) this.jwksRefreshes.labels(result);
    for (const why of LEASE_ENDS) this.leasesEnded.labels(why);
    for (const source of ['pool', 'create']) this.mintSeconds.zero({ source });
  }

  /**
   * The version, readiness, Venice's hold and the queue timeout, and prom-client's default process
   * metrics (resident memory, heap, event-loop lag, open file descriptors): what an alert or a soak reads
   * without a shell on the host.
   */
  private declareHealth(sources: MetricsSources): void {
    new Gauge({
      name: 'broker_build_info',
      help: 'Always 1; the label says which version of the broker runs.',
      labelNames: ['version'] as const,
      registers: [this.registry],
    })
      .labels(BROKER_VERSION)
      .set(1);
    new Gauge({
      name: 'broker_ready',
      help: '1 while /readyz says ready (not draining, the issuer keys held, the store taking writes), else 0.',
      registers: [this.registry],
      async collect() {
        this.set((await sources.ready?.().catch(() => false)) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'broker_venice_hold_seconds',
      help: 'How long Venice still holds every replica off creating (a 429 met); 0 when not held.',
      registers: [this.registry],
      async collect() {
        this.set(((await sources.heldForMs?.().catch(() => Number.NaN)) ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'broker_queue_timeout_seconds',
      help: 'limits.queue-timeout: the longest a mint waits for its turn before it is refused.',
      registers: [this.registry],
    }).set((sources.queueTimeoutMs ?? 0) / 1000);
    collectDefaultMetrics({ register: this.registry });
    // prom-client's three gauges named *_total break Prometheus's naming rule (promtool check metrics
    // says so); the same counts remain, by type, in nodejs_active_handles, _requests and _resources.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
  }

  /** A Venice request's route without ids or query: "GET /api_keys/{id}", "POST /api_keys". */
  static veniceRoute(method: string, url: URL): string {
    const at = url.pathname.indexOf('/api_keys');
    const path = at < 0 ? '/other' : url.pathname.slice(at).replace(/^\/api_keys\/(?!rate_limits$)[^/]+$/, '/api_keys/{id}');
    return `${method} ${path}`;
  }
}
