/**
 * The one way a leased key ends: core's owner-checked delete (it reads the key at Venice and deletes it
 * only while it still carries the lease's tag), then the lease's end, then one audit line naming the
 * lease's own rule and why. Post's delete, rotate, revoke, sweep, the webhook and the operators' revoke
 * all come here; a key that expired ends its lease without a delete (reconciler.ts).
 */
import { type DeletedKeys, deleteTaggedKey, type Spent } from '../../../core/delete-keys.js';
import { ActionFailure, messageOf } from '../../../core/errors.js';
import { roundAmount } from '../../../core/spend.js';
import type { VeniceClient } from '../../../core/venice-client.js';
import type { Audit, AuditRecord } from '../observe/audit.js';
import type { LeaseEnd } from '../observe/metrics.js';
import type { LeaseBook } from './lease-book.js';
import { type Lease, leaseTag } from './leases.js';

export interface LeaseEndDeps {
  /** A Venice client no caller can stop (clean-up). */
  cleanup: () => VeniceClient;
  leases: LeaseBook;
  audit: Audit;
  log: { info: (message: string) => void; warning: (message: string) => void };
  /** The shared listing changed (a key was deleted). */
  changed: () => void;
}

/** A lease end's collaborators from a request's or a process's own (what every caller of endLeasedKey passes). */
export function leaseEndDeps(deps: {
  venice: () => VeniceClient;
  leases: LeaseBook;
  audit: Audit;
  log: LeaseEndDeps['log'];
  listing: { changed: () => void };
}): LeaseEndDeps {
  return {
    cleanup: () => deps.venice().forCleanup(),
    leases: deps.leases,
    audit: deps.audit,
    log: deps.log,
    changed: () => deps.listing.changed(),
  };
}

export interface WhyItEnds {
  why: LeaseEnd;
  /** The audit line's action: the request or process that ended it. */
  action: AuditRecord['action'];
  reason: string;
  delivery?: string | undefined;
  event?: string | undefined;
  by?: 'operator' | undefined;
  /** False when the caller's own request line is the lease's end line (post's DELETE). */
  audit?: boolean;
}

export type Ended = { outcome: 'deleted' | 'already-gone'; spent: Spent | undefined } | { outcome: 'not-ours'; spent: undefined };

/** Deletes a leased key and ends its lease; a Venice failure is thrown (the lease stays, for a retry). */
export async function endLeasedKey(lease: Lease, end: WhyItEnds, deps: LeaseEndDeps): Promise<Ended> {
  const tag = leaseTag(lease);
  let ended: Ended = { outcome: 'already-gone', spent: undefined };
  if (tag) {
    const result = await deleteTaggedKey(
      { id: lease.keyId, tag },
      { io: deps.log, client: deps.cleanup(), repository: lease.repository },
    ).finally(deps.changed);
    ended = result.outcome === 'not-ours' ? { outcome: 'not-ours', spent: undefined } : result;
  }
  await deps.leases.end(lease);
  if (end.audit !== false) {
    deps.audit({
      action: end.action,
      outcome: ended.outcome === 'not-ours' ? 'refused' : ended.outcome,
      status: 200,
      repository: lease.repository,
      run: lease.runId,
      rule: lease.rule,
      keyId: lease.keyId,
      reason: ended.outcome === 'not-ours' ? `${end.reason}; Venice shows another description now, so it was not deleted` : end.reason,
      delivery: end.delivery,
      event: end.event,
      by: end.by,
      leaseEnded: end.why,
    });
  }
  return ended;
}

/**
 * Ends each lease in turn (revoke, sweep, rotate, an operator's revoke). One failure does not stop the
 * rest; the call then fails, naming every key it could not delete (their leases stay, to try again).
 */
export async function endLeasedKeys(leases: Lease[], end: WhyItEnds, deps: LeaseEndDeps): Promise<DeletedKeys> {
  const result: DeletedKeys = { ids: [], spent: { usd: 0, diem: 0 }, unread: 0 };
  const failures: string[] = [];
  for (const lease of leases) {
    try {
      const ended = await endLeasedKey(lease, end, deps);
      if (ended.outcome === 'not-ours') continue;
      result.ids.push(lease.keyId);
      if (ended.spent) {
        result.spent = { usd: roundAmount(result.spent.usd + ended.spent.usd), diem: roundAmount(result.spent.diem + ended.spent.diem) };
      } else {
        result.unread++;
      }
    } catch (error) {
      failures.push(`${lease.keyId}: ${messageOf(error)}`);
    }
  }
  if (failures.length > 0) {
    throw new ActionFailure(`deleted ${result.ids.length} of ${leases.length} key(s); could not delete ${failures.join('; ')}`);
  }
  return result;
}
