/**
 * Finds the keys that were minted but never handed out, and deletes them. Before each create the broker
 * writes an intent in the mint journal (shared-state.ts) and removes it once the caller has its answer;
 * an intent still there after its deadline belongs to a mint whose process died (kill -9, a node lost)
 * or whose answer could not be delivered. Its key, if Venice made one, is found in the account's listing
 * by the tag the intent names (the tag carries a per-mint token, so no other key has it), deleted
 * through core's owner-checked delete, audited and counted; then the intent goes.
 *
 * Every replica runs this every `limits.reconcile-interval` (at most 30 s), one at a time through the
 * store, and once at start: a crash's orphans are gone within about two minutes of any replica running.
 */
import { deleteTaggedKey, ownedKeys } from '../../core/delete-keys.js';
import { formatTag } from '../../core/description-tag.js';
import { messageOf } from '../../core/errors.js';
import { safeText } from '../../core/safe-text.js';
import type { VeniceClient } from '../../core/venice-client.js';
import type { Audit } from './audit.js';
import type { KeyListing } from './key-listing.js';
import type { BrokerMetrics } from './metrics.js';
import type { SharedState } from './shared-state.js';

export interface ReconcilerDeps {
  state: SharedState;
  /** A Venice client that no caller can stop. */
  venice: () => VeniceClient;
  listing: KeyListing;
  audit: Audit;
  metrics: BrokerMetrics;
  log: { info: (message: string) => void; warning: (message: string) => void };
  now: () => number;
  intervalMs: number;
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
    const overdue = await state.journal.overdue();
    if (overdue.length === 0) return 0;
    if (!(await state.lead('reconcile', Math.max(1_000, intervalMs - 500)))) return 0;
    const client = this.deps.venice();
    const listed = await client.listKeys();
    let deleted = 0;
    for (const intent of overdue) {
      const orphans = ownedKeys(listed, intent.repository).filter((key) => formatTag(key.tag) === intent.tag);
      for (const orphan of orphans) {
        const result = await deleteTaggedKey(
          { id: orphan.id, tag: orphan.tag },
          { io: this.deps.log, client, repository: intent.repository },
        );
        if (result.outcome === 'deleted' || result.outcome === 'already-gone') {
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
      await state.journal.handedOut(intent.id);
    }
    if (deleted > 0) this.deps.listing.changed();
    return deleted;
  }
}
