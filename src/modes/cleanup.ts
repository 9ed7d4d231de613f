/**
 * Post step: delete the key main minted, when it is this job's to delete. Run keys and preview keys
 * outlive the job (revoke and sweep delete them), and so does a job key with skip-delete, but only
 * once main succeeded: a key from a failed main is deleted whatever the inputs say. The DELETE is sent
 * whatever the clock says about expiry ("not found" counts as gone), and only for an id that Venice
 * still shows with this invocation's tag.
 */

import { spentText } from '../../core/delete-keys.js';
import { isTagOfRepository, type KeyTag, parseTag } from '../../core/description-tag.js';
import { formatDuration } from '../../core/duration.js';
import { messageOf } from '../../core/errors.js';
import { isKeyId } from '../../core/ownership.js';
import { quoted } from '../../core/safe-text.js';
import { VeniceError } from '../../core/venice-errors.js';
import type { KeyBackend } from '../backends/key-backend.js';
import { type ActionIO, STATE } from '../runner/action-io.js';
import type { Config } from '../runner/inputs.js';
import type { RunContext } from '../runner/run-context.js';
import { postSummary, writeSummary } from '../runner/summary.js';

/** How long post watches for a key whose create main sent but never saw answered. */
export const LATE_CREATE_WATCH_MS = 60_000;
export const LATE_CREATE_POLL_MS = 2_000;

export interface CleanupDeps {
  io: ActionIO;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  context: () => RunContext;
  /** Inputs are read only when there is something to delete: a post after a failed main must stay quiet. */
  loadConfig: () => Config;
  /** Where keys are deleted: Venice directly, or the broker (which checks the token owns the key). */
  keyBackend: (config: Config) => Promise<KeyBackend>;
}

export async function cleanUp(deps: CleanupDeps): Promise<void> {
  const { io } = deps;
  const tag = parseTag(io.getState(STATE.tag));
  if (!tag) {
    io.info('No key was minted in this job; nothing to delete.');
    return;
  }
  const context = deps.context();
  // State must come from this job's own main: a STATE_* variable set in the workflow could name anything.
  if (!isTagOfRepository(tag, context.repository) || tag.runId !== context.runId || tag.runAttempt !== context.runAttempt) {
    io.warning('the saved state does not belong to this job (another repository, run or attempt); nothing deleted.');
    return;
  }
  const keyId = io.getState(STATE.keyId);
  const handedOut = isKeyId(keyId) ? keyId : undefined;
  const keep = io.getState(STATE.deleteInPost) === 'false';
  // An earlier create attempt that went unanswered may still produce a key, even when a later one worked.
  const mayLandLate = Number(io.getState(STATE.createPendingUntil)) > 0;
  if (keep) io.info(keptMessage(tag, keyId, io.getState(STATE.expiresAt)));
  if (keep && !mayLandLate) return;
  const config = deps.loadConfig();
  try {
    await io.group('Delete the key', async () => {
      const backend = await deps.keyBackend(config);
      if (handedOut && !keep) await deleteMintedKey(handedOut, tag, { ...deps, backend });
      // Through the broker there is nothing to look for: a key it made and never handed out is its own to delete.
      const leftovers = backend.deleteLeftovers;
      if (leftovers && (!handedOut || mayLandLate)) await deleteKeysOfMain(tag, { ...deps, deleteLeftovers: leftovers }, handedOut);
    });
  } catch (error) {
    const message = cleanupFailureMessage(keyId, io.getState(STATE.expiresAt), error);
    if (config.failOnCleanupError) io.setFailed(message);
    else io.warning(message);
  }
}

async function deleteMintedKey(keyId: string, tag: KeyTag, deps: CleanupDeps & { backend: KeyBackend }): Promise<void> {
  const result = await deps.backend.deleteKey(keyId, tag);
  if (result.outcome === 'not-ours') {
    deps.io.warning(
      `key ${keyId} was not deleted: Venice shows it as ${quoted(result.description)}, without this job's tag. ` +
        'Someone may have edited its description; check it in the Venice dashboard.',
    );
    return;
  }
  if (result.outcome === 'already-gone') {
    deps.io.info(`Key ${keyId} was already gone.`);
  } else {
    deps.io.info(`Deleted key ${keyId}${deps.backend.via}.${result.spent ? ` It spent ${spentText(result.spent)}.` : ''}`);
  }
  await writeSummary(deps.io, postSummary(keyId, result.outcome, result.spent));
}

/**
 * Keys main made but did not hand out (it failed, was cancelled mid-create, or an attempt's answer was
 * lost): found by their tag, all but `keep` (the key main did hand out). When a create may still land,
 * keep looking for a bounded time.
 */
async function deleteKeysOfMain(
  tag: KeyTag,
  deps: CleanupDeps & { deleteLeftovers: NonNullable<KeyBackend['deleteLeftovers']> },
  keep?: string,
): Promise<void> {
  const pendingUntil = Number(deps.io.getState(STATE.createPendingUntil)) || 0;
  const watchUntil = Math.min(pendingUntil, deps.now() + LATE_CREATE_WATCH_MS);
  // Bounded in time and in count: one list per poll interval of the watch, at most.
  const polls = Math.max(0, Math.ceil((watchUntil - deps.now()) / LATE_CREATE_POLL_MS));
  let said = false;
  for (let poll = 0; ; poll++) {
    const count = await deps.deleteLeftovers(tag, keep);
    if (count > 0) {
      deps.io.info(`Deleted ${count} key(s) left by main.`);
      return;
    }
    if (poll >= polls || deps.now() >= watchUntil) break;
    if (!said) {
      deps.io.info(`A create main sent was never answered; watching for a late key for up to ${formatDuration(watchUntil - deps.now())}.`);
      said = true;
    }
    await deps.sleep(LATE_CREATE_POLL_MS);
  }
  deps.io.info(said ? 'No late key appeared; nothing to delete.' : 'No key from this job is left; nothing to delete.');
}

function keptMessage(tag: KeyTag, keyId: string, expiresAt: string): string {
  const until = expiresAt ? ` until it expires at ${expiresAt}` : '';
  if (tag.scope === 'run') {
    return `Key ${keyId} is the run's key: it stays for the run's other jobs${until}. Delete it in a last job with mode: revoke and the key-handle.`;
  }
  if (tag.scope === 'pr')
    return `Key ${keyId} is PR #${tag.pr}'s preview key: it stays${until}, or until mode: revoke deletes it when the PR closes.`;
  return `skip-delete is true: key ${keyId} stays usable${until}.`;
}

function cleanupFailureMessage(keyId: string, expiresAt: string, error: unknown): string {
  const which = keyId ? `key ${keyId}` : 'the keys this job created';
  let what = messageOf(error);
  if (error instanceof VeniceError && error.status !== undefined) {
    what = `HTTP ${error.status}${error.veniceText ? ` "${error.veniceText}"` : ''}: ${error.message}`;
  }
  const until = expiresAt ? `It stays usable until it expires at ${expiresAt}` : 'It stays usable until it expires';
  return `could not delete ${which}. ${what} ${until}; delete it in Venice's dashboard (API keys) if that is too long.`;
}
