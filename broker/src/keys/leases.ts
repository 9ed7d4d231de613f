/**
 * A lease: the broker's record of one key it handed out, as Vault keeps one for every dynamic secret.
 * Written before the answer leaves (a key whose lease cannot be written is deleted, never handed out),
 * signed with a key derived from the admin key, and read back by everything that decides about a key:
 * post's delete, rotate, revoke, sweep, the webhook, the reconciler, `live-keys` and the operators'
 * `leases` and `revoke` commands. It holds no secret. It ends when its key is deleted or expires.
 */
import type { KeyTag, Scope } from '../../../core/description-tag.js';
import { parseTag } from '../../../core/description-tag.js';
import type { KeyFacts } from '../../../core/ownership.js';

export interface Lease {
  keyId: string;
  repositoryId: string;
  repository: string;
  scope: Scope;
  pr: number | undefined;
  slot: string | undefined;
  runId: string;
  runAttempt: string;
  /** The key's description (its label and tag), as Venice shows it. */
  description: string;
  /** When the key was handed out (epoch ms, the broker's clock). */
  handedOutAt: number;
  /** When the key expires (epoch ms). */
  expiresAt: number;
  /** The rule that granted it: every audit line about the key names this rule. */
  rule: string;
  idempotencyKey: string | undefined;
  /** `ending`: its deletion failed and is being retried (by the reconciler) until the key expires. */
  state: 'live' | 'ending';
  /** Why it is ending, and when to try again. */
  ending?: { why: string; delivery: string | undefined; attempts: number; nextAt: number } | undefined;
}

export function leaseFacts(lease: Lease): KeyFacts {
  const { scope, pr, slot, runId, runAttempt, handedOutAt } = lease;
  return { scope, pr, slot, runId, runAttempt, handedOutAt };
}

/** The key's tag, from the description the lease recorded (core's deletes check it again at Venice). */
export function leaseTag(lease: Lease): KeyTag | undefined {
  return parseTag(lease.description);
}

/** Whether a verified record's body has a lease's shape (a record of an older version is not one). */
export function isLease(value: unknown): value is Lease {
  const lease = value as Partial<Lease> | null;
  return (
    typeof lease === 'object' &&
    lease !== null &&
    typeof lease.keyId === 'string' &&
    typeof lease.repositoryId === 'string' &&
    typeof lease.repository === 'string' &&
    typeof lease.scope === 'string' &&
    typeof lease.runId === 'string' &&
    typeof lease.runAttempt === 'string' &&
    typeof lease.description === 'string' &&
    typeof lease.handedOutAt === 'number' &&
    typeof lease.expiresAt === 'number' &&
    typeof lease.rule === 'string' &&
    (lease.state === 'live' || lease.state === 'ending')
  );
}

/** A lease as JSON (undefined fields left out, so the signed text is what is stored). */
export function leaseRecord(lease: Lease): Lease {
  return JSON.parse(JSON.stringify(lease)) as Lease;
}
