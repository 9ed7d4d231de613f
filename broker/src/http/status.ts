/**
 * What the operators' status page shows (status-page.ts renders it): the live leases grouped by
 * repository with what their keys spent (from Venice's listing), the queue and the window, refusals in
 * the last hour by reason, the webhook's last delivery and the leases ended lately, the store and the
 * issuer's keys, the version. Read only: nothing here changes a key.
 *
 * Venice is asked for its listing at most once per PAGE_LISTING_TTL_MS whatever the page's load (a
 * reload, a tab left open, several operators): loads in between share it. Leases are read from the store on each load (one read). The recent activity is this
 * replica's own (each replica's page shows what it saw); the leases, the window and the store are shared.
 */
import type { ListedKey } from '../../../core/venice-api.js';
import { KeyListing } from '../keys/key-listing.js';
import type { Lease } from '../keys/leases.js';
import type { AuditRecord } from '../observe/audit.js';
import type { StoreHealth } from '../state/shared-state.js';

/** How long the page reuses Venice's listing (it never asks Venice more often than this). */
export const PAGE_LISTING_TTL_MS = 15_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

type Spent = { usd: number; diem: number };

export interface KeyRow {
  lease: Lease;
  /** Over the trailing seven days, and in the key's current limit period; undefined: Venice did not say. */
  spent: Spent | undefined;
  currentPeriod: Spent | undefined;
}

export interface RepositoryRow {
  repository: string;
  repositoryId: string;
  keys: KeyRow[];
  live: number;
  ending: number;
  oldestExpiry: number;
  spent: Spent;
  currentPeriod: Spent;
  rules: string[];
}

export interface StatusSnapshot {
  version: string;
  at: number;
  /** undefined: the leases could not be read (the store is out of reach). */
  repositories: RepositoryRow[] | undefined;
  /** Whether Venice's listing (the spend) could be read. */
  spendKnown: boolean;
  queue: { waiting: number; windowCreates: number | undefined; perWindow: number; windowMs: number; heldForMs: number | undefined };
  refusals: { reason: string; count: number }[];
  leaseEnds: { why: string; count: number }[];
  webhook: { configured: boolean; last: WebhookDelivery | undefined; lastDeletion: { at: number; count: number } | undefined };
  store: { kind: 'memory' | 'redis'; health: StoreHealth };
  jwks: { held: boolean; last: { at: number; result: 'ok' | 'failed' } | undefined };
  /** This replica's warm pool: keys held, and the size it refills towards; undefined without one. */
  pool: { keys: number; size: number } | undefined;
}

export interface WebhookDelivery {
  at: number;
  event: string | undefined;
  outcome: string;
  status: number;
  reason: string | undefined;
}

/** Counts per minute over the last hour, by a fixed word (a reason, a why). */
class HourOfCounts {
  private readonly minutes = new Map<number, Map<string, number>>();

  add(word: string, at: number): void {
    const minute = Math.floor(at / MINUTE_MS);
    const counts = this.minutes.get(minute) ?? new Map<string, number>();
    counts.set(word, (counts.get(word) ?? 0) + 1);
    this.minutes.set(minute, counts);
    for (const old of this.minutes.keys()) if (old <= minute - 60) this.minutes.delete(old);
  }

  /** The last hour's counts, most first. */
  totals(now: number): { word: string; count: number }[] {
    const totals = new Map<string, number>();
    for (const [minute, counts] of this.minutes) {
      if (minute * MINUTE_MS <= now - HOUR_MS) continue;
      for (const [word, count] of counts) totals.set(word, (totals.get(word) ?? 0) + count);
    }
    return [...totals].map(([word, count]) => ({ word, count })).sort((a, b) => b.count - a.count || a.word.localeCompare(b.word));
  }
}

/** What this replica saw lately: fed by the broker's audit and refusal counting (broker.ts). */
export class RecentActivity {
  private readonly refusals = new HourOfCounts();
  private readonly ends = new HourOfCounts();
  lastDelivery: WebhookDelivery | undefined;
  lastDeletion: { at: number; count: number } | undefined;
  lastJwks: { at: number; result: 'ok' | 'failed' } | undefined;

  constructor(private readonly now: () => number) {}

  /** A refusal, by the broker's own reason word (the same as broker_refusals_total's label). */
  refused(reason: string): void {
    this.refusals.add(reason, this.now());
  }

  /** A lease ended, by why (the same as broker_leases_ended_total's label). */
  ended(why: string): void {
    this.ends.add(why, this.now());
  }

  /** An audit record: the webhook's deliveries and the keys they deleted. */
  saw(record: AuditRecord): void {
    const at = this.now();
    if (record.action !== 'webhook') return;
    if (record.leaseEnded === undefined)
      this.lastDelivery = { at, event: record.event, outcome: record.outcome, status: record.status, reason: record.reason };
    const count = record.deleted?.length ?? (record.leaseEnded ? 1 : 0);
    if (count > 0) this.lastDeletion = { at, count };
  }

  jwksFetched(result: 'ok' | 'failed'): void {
    this.lastJwks = { at: this.now(), result };
  }

  refusalsLastHour(): { reason: string; count: number }[] {
    return this.refusals.totals(this.now()).map(({ word, count }) => ({ reason: word, count }));
  }

  leaseEndsLastHour(): { why: string; count: number }[] {
    return this.ends.totals(this.now()).map(({ word, count }) => ({ why: word, count }));
  }
}

export interface StatusSources {
  version: string;
  now: () => number;
  leases: () => Promise<Lease[]>;
  /** Venice's listing of the account's keys. */
  listing: () => Promise<ListedKey[]>;
  queue: { depth: () => number; windowCreates: () => Promise<number> };
  heldForMs: () => Promise<number>;
  limits: { createsPerMinute: number; createWindowMs: number };
  store: { kind: 'memory' | 'redis'; health: () => Promise<StoreHealth> };
  jwksHeld: () => boolean;
  webhookConfigured: boolean;
  activity: RecentActivity;
  pool?: { keys: () => number; size: number } | undefined;
}

/** Builds snapshots for the page, with Venice's listing kept for PAGE_LISTING_TTL_MS. */
export class StatusBoard {
  private readonly listing: KeyListing;

  constructor(private readonly sources: StatusSources) {
    this.listing = new KeyListing(sources.listing, PAGE_LISTING_TTL_MS, sources.now);
  }

  async snapshot(): Promise<StatusSnapshot> {
    const { sources } = this;
    const failed = <T>(promise: Promise<T>): Promise<T | undefined> => promise.catch(() => undefined);
    const [leases, keys, windowCreates, heldForMs, health] = await Promise.all([
      failed(sources.leases()),
      failed(this.listing.keys()),
      failed(sources.queue.windowCreates()),
      failed(sources.heldForMs()),
      sources.store.health(),
    ]);
    const { activity } = sources;
    return {
      version: sources.version,
      at: sources.now(),
      repositories: leases && repositoryRows(leases, keys),
      spendKnown: keys !== undefined,
      queue: {
        waiting: sources.queue.depth(),
        windowCreates,
        perWindow: sources.limits.createsPerMinute,
        windowMs: sources.limits.createWindowMs,
        heldForMs,
      },
      refusals: activity.refusalsLastHour(),
      leaseEnds: activity.leaseEndsLastHour(),
      webhook: { configured: sources.webhookConfigured, last: activity.lastDelivery, lastDeletion: activity.lastDeletion },
      store: { kind: sources.store.kind, health },
      jwks: { held: sources.jwksHeld(), last: activity.lastJwks },
      pool: sources.pool && { keys: sources.pool.keys(), size: sources.pool.size },
    };
  }
}

/** Leases grouped by repository (most keys first), each key with what Venice says it spent. */
export function repositoryRows(leases: Lease[], keys: ListedKey[] | undefined): RepositoryRow[] {
  const listed = new Map((keys ?? []).map((key) => [key.id, key]));
  const rows = new Map<string, RepositoryRow>();
  for (const lease of [...leases].sort((a, b) => a.handedOutAt - b.handedOutAt)) {
    const key = listed.get(lease.keyId);
    const row = rows.get(lease.repositoryId) ?? {
      repository: lease.repository,
      repositoryId: lease.repositoryId,
      keys: [],
      live: 0,
      ending: 0,
      oldestExpiry: lease.expiresAt,
      spent: { usd: 0, diem: 0 },
      currentPeriod: { usd: 0, diem: 0 },
      rules: [],
    };
    row.keys.push({ lease, spent: key?.spent, currentPeriod: key?.currentPeriod });
    if (lease.state === 'live') row.live++;
    else row.ending++;
    row.oldestExpiry = Math.min(row.oldestExpiry, lease.expiresAt);
    row.spent = add(row.spent, key?.spent);
    row.currentPeriod = add(row.currentPeriod, key?.currentPeriod);
    if (!row.rules.includes(lease.rule)) row.rules.push(lease.rule);
    rows.set(lease.repositoryId, row);
  }
  return [...rows.values()].sort((a, b) => b.keys.length - a.keys.length || a.repository.localeCompare(b.repository));
}

function add(total: Spent, more: Spent | undefined): Spent {
  return more ? { usd: total.usd + more.usd, diem: total.diem + more.diem } : total;
}
