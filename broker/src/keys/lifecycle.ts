/**
 * The preview lifecycle through the broker, for callers whose rule allows it (rotate, revoke, sweep):
 * the same semantics as the direct path (core/ownership.ts decides for both), read from the broker's
 * leases, only ever for the caller's own repository.
 * - rotate: after a preview key is minted, the older preview keys of the same PR (from the token) and
 *   slot are deleted, older by hand-out time;
 * - revoke: every key of one PR (all slots, and job and run keys still alive for it);
 * - sweep: the caller lists its repository's keys (never a secret), asks GitHub which PRs are closed and
 *   which runs have completed, and names the keys to delete; the broker deletes those that are its
 *   repository's and not `kept`.
 * A dry run lists what would go and deletes nothing. Each key's end is one audit line (lease-ends.ts).
 */
import type { OwnedKeyAnswer } from '../../../core/broker-api.js';
import type { DeletedKeys } from '../../../core/delete-keys.js';
import { endsWithPullRequest, isKeyId, isOlderInSlot, isSweepable, prFromRef, prNumberOf } from '../../../core/ownership.js';
import type { CallerClaims } from '../policy/caller-token.js';
import type { Operation, Rule } from '../policy/config.js';
import { type OperationDeps, Refusal } from './key-operations.js';
import { endLeasedKeys, leaseEndDeps, type WhyItEnds } from './lease-ends.js';
import { type Lease, leaseFacts } from './leases.js';

export function requireOperation(rule: Rule, operation: Operation): void {
  if (!rule.operations.includes(operation)) {
    throw new Refusal(403, `rule "${rule.name}" does not allow ${operation} (it allows ${rule.operations.join(', ')}).`, {
      rule: rule.name,
    });
  }
}

/** A key as the broker shows it to its repository: never the secret. `createdAt` is when it was handed out. */
/** A key as its owner sees it listed (core/broker-api.ts: the same type the action reads). */
export type ListedOwnedKey = OwnedKeyAnswer;

function shown(lease: Lease): ListedOwnedKey {
  const { pr, scope, slot, runId, runAttempt } = lease;
  return {
    id: lease.keyId,
    description: lease.description,
    createdAt: new Date(lease.handedOutAt).toISOString(),
    expiresAt: new Date(lease.expiresAt).toISOString(),
    tag: { pr, scope, slot, runId, runAttempt },
  };
}

const NOTHING: DeletedKeys = { ids: [], spent: { usd: 0, diem: 0 }, unread: 0 };

function end(leases: Lease[], why: WhyItEnds, deps: OperationDeps, dryRun = false): Promise<DeletedKeys> {
  return dryRun ? Promise.resolve(NOTHING) : endLeasedKeys(leases, why, leaseEndDeps(deps));
}

/** After a preview key is minted with rotate: the keys of its PR and slot handed out before it go. */
export async function rotateAfterMint(claims: CallerClaims, newKey: { id: string }, deps: OperationDeps): Promise<string[]> {
  const leases = await deps.leases.list(claims.repository_id);
  const newest = leases.find((lease) => lease.keyId === newKey.id);
  if (!newest) return [];
  // Only older keys: a run for a later push may already have handed out a newer one, which must stay.
  const older = leases.filter((lease) => lease.keyId !== newKey.id && isOlderInSlot(leaseFacts(lease), leaseFacts(newest)));
  const reason = `rotated out by ${newKey.id} (PR #${newest.pr}, slot ${newest.slot})`;
  return (await end(older, { why: 'rotate', action: 'rotate', reason }, deps)).ids;
}

/**
 * The PR to revoke: the token's (refs/pull/<n>/merge). A merged PR's closing run carries the base branch
 * as its ref, so for a pull_request event's token, and only then, the request may name the PR.
 */
export function prToRevoke(claims: CallerClaims, body: Record<string, unknown>, rule: Rule): number {
  const fromToken = prFromRef(claims.ref);
  const asked = body['pr-number'];
  const requested = asked === undefined || asked === '' ? undefined : prNumberOf(asked);
  if (requested === undefined && asked !== undefined && asked !== '') {
    throw new Refusal(400, 'field pr-number must be a pull request number, e.g. 7.', { rule: rule.name });
  }
  if (fromToken !== undefined) {
    if (requested !== undefined && requested !== fromToken) {
      throw new Refusal(403, `pr-number ${requested} is not the pull request this job's token names (#${fromToken}).`, {
        rule: rule.name,
        auditReason: "field pr-number differs from the pull request the token's ref names.",
      });
    }
    return fromToken;
  }
  if (requested !== undefined && claims.event_name === 'pull_request') return requested;
  throw new Refusal(
    403,
    "revoke needs the token of a pull_request run (its ref names the PR, or, for a merged PR's closed run, send pr-number); this token's event proves no PR.",
    { rule: rule.name },
  );
}

export async function revokeForCaller(claims: CallerClaims, rule: Rule, body: Record<string, unknown>, deps: OperationDeps) {
  const pr = prToRevoke(claims, body, rule);
  const leases = (await deps.leases.list(claims.repository_id)).filter((lease) => endsWithPullRequest(leaseFacts(lease), { number: pr }));
  const dryRun = dryRunOf(body);
  const deleted = await end(leases, { why: 'revoke', action: 'revoke', reason: `PR #${pr} revoked` }, deps, dryRun);
  return { pr, dryRun, keys: leases.map(shown), deleted };
}

/** `dry-run` as JSON or as the input writes it. */
function dryRunOf(body: Record<string, unknown>): boolean {
  return body['dry-run'] === true || body['dry-run'] === 'true';
}

export async function listForCaller(claims: CallerClaims, deps: OperationDeps): Promise<ListedOwnedKey[]> {
  return (await deps.leases.list(claims.repository_id)).map(shown);
}

export async function sweepForCaller(claims: CallerClaims, rule: Rule, body: Record<string, unknown>, deps: OperationDeps) {
  const ids = body.ids;
  if (!Array.isArray(ids) || ids.length > 500 || !ids.every((id) => isKeyId(id))) {
    throw new Refusal(400, 'the body must be {"ids": [...]}: up to 500 key ids from GET /v1/keys.', { rule: rule.name });
  }
  const dryRun = dryRunOf(body);
  // Only keys of the caller's repository, and never a job key its owner chose to keep (skip-delete).
  const leases = (await deps.leases.list(claims.repository_id)).filter(
    (lease) => ids.includes(lease.keyId) && isSweepable(leaseFacts(lease)),
  );
  const deleted = await end(leases, { why: 'sweep', action: 'sweep', reason: 'swept: its PR closed or its run completed' }, deps, dryRun);
  return { dryRun, keys: leases.map(shown), deleted, refused: ids.length - leases.length };
}
