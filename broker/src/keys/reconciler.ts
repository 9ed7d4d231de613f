/**
 * The broker's periodic look at what it knows (every replica, every `limits.orphan-scan-interval`, one at a
 * time through the store, and once at start):
 * - **orphans**: a mint writes a signed intent before its create and ends it when the key is handed out
 *   (with its lease, in one store step). An intent still there after its deadline belongs to a mint whose
 *   process died or whose hand-out failed. The reconciler takes it out (whoever takes it decides: a
 *   hand-out that finds it gone hands nothing out), finds its key by the intent's tag (a per-mint token:
 *   no other key has it, the direct path's included), and deletes it unless the key has a lease. An intent
 *   that does not verify deletes nothing.
 * - **failed deletions**: a lease marked ending (its key's deletion failed, e.g. the webhook's) is tried
 *   again, with backoff, until its key expires.
 * - **expiries**: a lease whose key expired ends, with one audit line.
 */
import { deleteTaggedKey, ownedKeys } from '../../../core/delete-keys.js';
import { formatTag } from '../../../core/description-tag.js';
import { messageOf } from '../../../core/errors.js';
import { safeText } from '../../../core/safe-text.js';
import type { VeniceClient } from '../../../core/venice-client.js';
import type { Audit } from '../observe/audit.js';
import type { BrokerMetrics } from '../observe/metrics.js';
import type { SharedState } from '../state/shared-state.js';
import type { KeyListing } from './key-listing.js';
import type { LeaseBook } from './lease-book.js';
import { endLeasedKey } from './lease-ends.js';
import type { Lease } from './leases.js';
import { type RecordKeys, verifyRecord } from './sealed-records.js';

interface Intent {
  id: string;
  tag: string;
  repository: string;
  runId: string;
}

function isIntent(value: unknown, id: string): value is Intent {
  const intent = value as Partial<Intent> | null;
  return (
    typeof intent === 'object' &&
    intent !== null &&
    intent.id === id &&
    typeof intent.tag === 'string' &&
    typeof intent.repository === 'string' &&
    typeof intent.runId === 'string'
  );
}

export interface ReconcilerDeps {
  state: SharedState;
  leases: LeaseBook;
  records: RecordKeys;
  /** A Venice client that no caller can stop. */
  venice: () => VeniceClient;
  listing: KeyListing;
  audit: Audit;
  metrics: BrokerMetrics;
  log: { info: (message: string) => void; warning: (message: string) => void };
  now: () => number;
  intervalMs: number;
  /** The warm pool, when configured: its reap deletes the pool keys of replicas that stopped. */
  pool?: { reap: () => Promise<number> } | undefined;
}

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Runs now, then every interval, until `stop`. */
  start(): void {
    const tick = (): void => {
      void this.runOnce();
    };
    tick();
    this.timer = setInterval(tick, this.deps.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass; the number of keys deleted (0 when another replica's turn, or nothing was overdue). */
  runOnce(): Promise<number> {
    this.running ??= this.pass()
      .catch((error: unknown) => {
        this.deps.log.warning(`reconciliation failed (${safeText(messageOf(error))}); it runs again in ${this.deps.intervalMs / 1000} s.`);
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async pass(): Promise<number> {
    const { state, intervalMs } = this.deps;
    if (!(await state.lead('reconcile', Math.max(1_000, intervalMs - 500)))) return 0;
    await this.expiries();
    await this.retryEnding();
    const reaped = (await this.deps.pool?.reap()) ?? 0;
    return reaped + (await this.orphans());
  }

  /** Leases whose keys expired: each ends with one line. */
  private async expiries(): Promise<void> {
    for (const lease of await this.deps.leases.expired()) {
      this.deps.audit({
        action: 'expire',
        outcome: 'already-gone',
        status: 200,
        repository: lease.repository,
        run: lease.runId,
        rule: lease.rule,
        keyId: lease.keyId,
        reason: 'its key expired',
        leaseEnded: 'expiry',
      });
    }
  }

  /** Deletions that failed (the webhook's), tried again when due, until their keys expire. */
  private async retryEnding(): Promise<void> {
    const now = this.deps.now();
    const due = (await this.deps.leases.list()).filter((lease) => lease.state === 'ending' && (lease.ending?.nextAt ?? 0) <= now);
    for (const lease of due) await this.endAgain(lease, now);
  }

  private async endAgain(lease: Lease, now: number): Promise<void> {
    const ending = lease.ending;
    try {
      await endLeasedKey(
        lease,
        { why: 'webhook', action: 'webhook', reason: `${ending?.why ?? 'its run or PR ended'} (tried again)`, delivery: ending?.delivery },
        {
          cleanup: this.deps.venice,
          leases: this.deps.leases,
          audit: this.deps.audit,
          log: this.deps.log,
          changed: () => this.deps.listing.changed(),
        },
      );
    } catch (error) {
      await this.deps.leases.failedToEnd(lease, ending?.why ?? 'its run or PR ended', ending?.delivery, now);
      this.deps.log.warning(`could not delete ${lease.keyId} again (${safeText(messageOf(error))}); tried again later, until it expires.`);
    }
  }

  /** Overdue intents: taken out, and their keys (if Venice made one, and it has no lease) deleted. */
  private async orphans(): Promise<number> {
    const { state } = this.deps;
    const overdue = (await state.journal.overdue()).flatMap(({ id, text }) => {
      const intent = verifyRecord(this.deps.records, 'intent', text);
      if (isIntent(intent, id)) return [intent];
      this.deps.log.warning(
        `an intent in the mint journal failed verification (not signed by this broker's admin key); it was ignored and deletes nothing: ${safeText(id)}`,
      );
      return [];
    });
    if (overdue.length === 0) return 0;
    const client = this.deps.venice();
    const listed = await client.listKeys();
    let deleted = 0;
    for (const intent of overdue) {
      if (!(await state.journal.claim(intent.id))) continue; // handed out (or taken) meanwhile
      for (const orphan of ownedKeys(listed, intent.repository).filter((key) => formatTag(key.tag) === intent.tag)) {
        if (await this.deps.leases.get(orphan.id)) continue; // handed out: never the reconciler's to delete
        const result = await deleteTaggedKey(
          { id: orphan.id, tag: orphan.tag },
          { io: this.deps.log, client, repository: intent.repository },
        );
        if (result.outcome === 'not-ours') continue;
        if (result.outcome === 'deleted') {
          deleted++;
          this.deps.metrics.orphansReconciled.inc();
        }
        this.deps.audit({
          action: 'reconcile',
          outcome: result.outcome,
          status: 200,
          repository: intent.repository,
          run: intent.runId,
          keyId: orphan.id,
          reason: 'minted but never handed out (the broker stopped, or the caller went away, before the answer)',
        });
      }
    }
    if (deleted > 0) this.deps.listing.changed();
    return deleted;
  }
}
