/**
 * Who owns a key and which keys an event ends: written once, called by the action and the broker.
 *
 * A key's facts are who it was handed to (repository, scope, run and attempt, PR and slot) and when it
 * was handed out. The action's direct path reads them from the key's tag (and, for when, Venice's
 * createdAt: the direct path hands a key out the moment it is created); the broker reads them from its
 * leases (broker/src/leases/), where "when" is the hand-out itself: a key may be created long before it
 * is handed out (a warm pool), so Venice's createdAt never orders keys there.
 *
 * The selectors below are the only place these rules are written: the keys a finished run attempt owns,
 * the keys of a PR handed out before it closed, the older keys of a preview slot, what a sweep may touch,
 * what a key id and a PR number look like.
 */
import type { KeyTag, Scope } from './description-tag.js';

/** What is known of a key's owner: the tag's fields, and when the key was handed out. */
export interface KeyFacts {
  scope: Scope;
  pr: number | undefined;
  /** Only for scope pr: the slot as the tag shows it. */
  slot: string | undefined;
  runId: string;
  runAttempt: string;
  /** When the key was handed out (epoch ms), when known. */
  handedOutAt: number | undefined;
}

export function factsOfTag(tag: KeyTag, handedOutAt?: number): KeyFacts {
  const { scope, pr, slot, runId, runAttempt } = tag;
  return { scope, pr, slot, runId, runAttempt, handedOutAt };
}

/**
 * The keys a finished run attempt owns: its job and run keys, of run `runId` with attempt at most
 * `attempt`. A re-run (attempt N+1) mints new keys, which attempt N's completion never touches; a `kept`
 * key is its owner's until it expires; preview keys belong to their PR, not to a run.
 */
export function endsWithRun(facts: KeyFacts, run: { runId: string; attempt: number }): boolean {
  return (facts.scope === 'job' || facts.scope === 'run') && facts.runId === run.runId && Number(facts.runAttempt) <= run.attempt;
}

/**
 * The keys a closed PR ends: every key of that PR handed out before it closed (`closedAt`, epoch ms).
 * A reopened PR's new keys are handed out after, and stay. Without a time (the direct path's revoke,
 * asked for by the workflow), every key of the PR.
 */
export function endsWithPullRequest(facts: KeyFacts, pr: { number: number; closedAt?: number | undefined }): boolean {
  if (facts.pr !== pr.number) return false;
  return pr.closedAt === undefined || facts.handedOutAt === undefined || facts.handedOutAt < pr.closedAt;
}

/**
 * Whether `facts` is an older key of the same preview slot as `newer` (rotate deletes those). By hand-out
 * time when both are known; else by run and attempt. A newer key (a later push's run) always stays.
 */
export function isOlderInSlot(facts: KeyFacts, newer: KeyFacts): boolean {
  if (facts.scope !== 'pr' || newer.scope !== 'pr' || facts.pr !== newer.pr || facts.slot !== newer.slot) return false;
  if (facts.handedOutAt !== undefined && newer.handedOutAt !== undefined) return facts.handedOutAt < newer.handedOutAt;
  const [run, newRun] = [Number(facts.runId), Number(newer.runId)];
  return run < newRun || (run === newRun && Number(facts.runAttempt) < Number(newer.runAttempt));
}

/** What a sweep may delete: anything of the repository but a `kept` key (a job key minted with skip-delete). */
export function isSweepable(facts: KeyFacts): boolean {
  return facts.scope !== 'kept';
}

/**
 * Who may delete a key by id: a preview key from any run of its repository (the PR outlives its runs);
 * a job or run key only from the run that minted it.
 */
export function mayDeleteFromRun(facts: KeyFacts, runId: string): boolean {
  return facts.scope === 'pr' || facts.runId === runId;
}

/** Venice's key ids (UUIDs today; any plain id of up to 128 characters is accepted, never a path). */
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isKeyId(value: unknown): value is string {
  return typeof value === 'string' && KEY_ID.test(value);
}

/** A pull request number as GitHub writes them: 1 to 999,999,999. */
const PR_NUMBER = /^[1-9]\d{0,8}$/;

/** A PR number from JSON (a number or its digits) or an input (`7` or `#7`); undefined when it is not one. */
export function prNumberOf(value: unknown): number | undefined {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.replace(/^#/, '') : '';
  return PR_NUMBER.test(text) ? Number(text) : undefined;
}

/** `refs/pull/7/merge` (a pull_request event's ref, as in a job's OIDC token) → 7. */
export function prFromRef(ref: string | undefined): number | undefined {
  const match = /^refs\/pull\/([^/]+)\/(merge|head)$/.exec(ref ?? '');
  return match ? prNumberOf(match[1]) : undefined;
}
