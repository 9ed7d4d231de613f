/**
 * The preview lifecycle through the broker, for callers whose rule allows it (rotate, revoke, sweep):
 * the same semantics as the direct path, decided from the shared listing and the keys' tags, only ever
 * for the caller's own repository.
 * - rotate: after a preview key is minted, the older preview keys of the same PR (from the token) and
 *   slot are deleted;
 * - revoke: every key of one PR (all slots, and job and run keys still alive for it);
 * - sweep: the caller lists its repository's keys (never a secret), asks GitHub which PRs are closed and
 *   which runs have completed, and names the keys to delete; the broker deletes those that are its
 *   repository's and not `kept`.
 * A dry run lists what would go and deletes nothing.
 */
import { type DeletedKeys, deleteKeys, type OwnedKey, ownedKeys } from '../../core/delete-keys.js';
import type { KeyTag } from '../../core/description-tag.js';
import type { CallerClaims } from './caller-token.js';
import type { Operation, Rule } from './config.js';
import { isVeniceKeyId, type OperationDeps, prFromRef, Refusal } from './key-operations.js';

export function requireOperation(rule: Rule, operation: Operation): void {
  if (!rule.operations.includes(operation)) {
    throw new Refusal(403, `rule "${rule.name}" does not allow ${operation} (it allows ${rule.operations.join(', ')}).`, {
      rule: rule.name,
    });
  }
}

/** A key as the broker shows it to its repository: never the secret. */
export interface ListedOwnedKey {
  id: string;
  description: string;
  createdAt: string | null;
  expiresAt: string | null;
  tag: { pr: number | undefined; scope: KeyTag['scope']; slot: string | undefined; runId: string; runAttempt: string };
}

function shown(key: OwnedKey): ListedOwnedKey {
  const { pr, scope, slot, runId, runAttempt } = key.tag;
  return {
    id: key.id,
    description: key.description,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    tag: { pr, scope, slot, runId, runAttempt },
  };
}

async function ownedByCaller(claims: CallerClaims, deps: OperationDeps): Promise<OwnedKey[]> {
  return ownedKeys(await deps.listing.keys(), claims.repository);
}

async function remove(
  keys: OwnedKey[],
  claims: CallerClaims,
  deps: OperationDeps,
  options: { dryRun: boolean; why: string; readFirst?: boolean },
) {
  const client = deps.venice().forCleanup();
  try {
    return await deleteKeys(keys, { io: deps.log, client, repository: claims.repository }, options);
  } finally {
    if (!options.dryRun) deps.listing.changed();
  }
}

/** After a preview key is minted with rotate: the older keys of its PR and slot go. */
export async function rotateAfterMint(claims: CallerClaims, newKey: { id: string; tag: KeyTag }, deps: OperationDeps): Promise<string[]> {
  const keys = (await ownedByCaller(claims, deps)).filter(
    (key) => key.tag.scope === 'pr' && key.tag.pr === newKey.tag.pr && key.tag.slot === newKey.tag.slot && key.id !== newKey.id,
  );
  const created = (await deps.listing.keys()).find((key) => key.id === newKey.id)?.createdAt;
  // Only older keys: a run for a later push may already have minted a newer one, which must stay.
  const older = keys.filter((key) =>
    key.createdAt && created
      ? Date.parse(key.createdAt) < Date.parse(created)
      : Number(key.tag.runId) < Number(newKey.tag.runId) ||
        (key.tag.runId === newKey.tag.runId && Number(key.tag.runAttempt) < Number(newKey.tag.runAttempt)),
  );
  return (await remove(older, claims, deps, { dryRun: false, why: 'rotated out' })).ids;
}

/**
 * The PR to revoke: the token's (refs/pull/<n>/merge). A merged PR's closing run carries the base branch
 * as its ref, so for a pull_request event's token, and only then, the request may name the PR.
 */
export function prToRevoke(claims: CallerClaims, body: Record<string, unknown>, rule: Rule): number {
  const fromToken = prFromRef(claims.ref);
  const asked = body['pr-number'];
  const requested = typeof asked === 'number' || (typeof asked === 'string' && asked !== '') ? Number(asked) : undefined;
  if (requested !== undefined && (!Number.isSafeInteger(requested) || requested < 1 || requested > 999_999_999)) {
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
  const keys = (await ownedByCaller(claims, deps)).filter((key) => key.tag.pr === pr);
  const dryRun = dryRunOf(body);
  const deleted: DeletedKeys = await remove(keys, claims, deps, { dryRun, why: `PR #${pr} revoked`, readFirst: true });
  return { pr, dryRun, keys: keys.map(shown), deleted };
}

/** `dry-run` as JSON or as the input writes it. */
function dryRunOf(body: Record<string, unknown>): boolean {
  return body['dry-run'] === true || body['dry-run'] === 'true';
}

export async function listForCaller(claims: CallerClaims, deps: OperationDeps): Promise<ListedOwnedKey[]> {
  return (await ownedByCaller(claims, deps)).map(shown);
}

export async function sweepForCaller(claims: CallerClaims, rule: Rule, body: Record<string, unknown>, deps: OperationDeps) {
  const ids = body.ids;
  if (!Array.isArray(ids) || ids.length > 500 || !ids.every((id) => typeof id === 'string' && isVeniceKeyId(id))) {
    throw new Refusal(400, 'the body must be {"ids": [...]}: up to 500 key ids from GET /v1/keys.', { rule: rule.name });
  }
  const dryRun = dryRunOf(body);
  // Only keys of the caller's repository, and never a job key its owner chose to keep (skip-delete).
  const keys = (await ownedByCaller(claims, deps)).filter((key) => ids.includes(key.id) && key.tag.scope !== 'kept');
  const deleted = await remove(keys, claims, deps, { dryRun, why: 'swept' });
  return { dryRun, keys: keys.map(shown), deleted, refused: ids.length - keys.length };
}
