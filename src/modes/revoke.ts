/**
 * mode revoke: delete a run's key (with key-handle: exactly that key, in the run's last job) or a pull
 * request's keys (without: every key of the PR, preview keys of all slots and any job or run keys still
 * alive for it). Each key is read before it is deleted, for its spend and to confirm it is still ours.
 */

import { type DeletedKeys, spentText } from '../../core/delete-keys.js';
import { ActionFailure } from '../../core/errors.js';
import { quoted } from '../../core/safe-text.js';
import type { KeyBackend } from '../backends/key-backend.js';
import type { ActionIO } from '../runner/action-io.js';
import type { Config } from '../runner/inputs.js';
import { pullRequestFor, type RunContext } from '../runner/run-context.js';
import { keyTable, writeSummary } from '../runner/summary.js';
import { publishDeleted } from './outputs.js';

export interface RevokeDeps {
  io: ActionIO;
  context: RunContext;
  /** Opens the handle, finds the PR's keys and deletes them: directly or through the broker. */
  backend: KeyBackend;
}

export async function revoke(config: Config, deps: RevokeDeps): Promise<void> {
  if (config.keyHandle) return revokeRunKey(config, deps);
  return revokePrKeys(config, deps);
}

async function revokeRunKey(config: Config, deps: RevokeDeps): Promise<void> {
  const { io, backend } = deps;
  const key = await backend.openHandle(config.keyHandle);
  const result = await io.group("Delete the run's key", () => backend.deleteKey(key.keyId, key.tag));
  if (result.outcome === 'not-ours') {
    throw new ActionFailure(`key ${key.keyId} was not deleted: Venice shows it as ${quoted(result.description)}, without the run's tag.`);
  }
  if (result.outcome === 'already-gone') {
    io.info(`The run's key ${key.keyId} was already gone.`);
    publish(io, { ids: [], spent: { usd: 0, diem: 0 }, unread: 0 }, false);
    return;
  }
  const deleted: DeletedKeys = { ids: [key.keyId], spent: result.spent ?? { usd: 0, diem: 0 }, unread: result.spent ? 0 : 1 };
  io.info(`Deleted the run's key ${key.keyId}.${result.spent ? ` It spent ${spentText(result.spent)}.` : ''}`);
  publish(io, deleted, false);
  await writeSummary(io, `### Venice run key revoked\n\n${keyTable([{ ...key, id: key.keyId }])}\n\n${spentLine(deleted)}\n`);
}

async function revokePrKeys(config: Config, deps: RevokeDeps): Promise<void> {
  const { io, context } = deps;
  const pr = pullRequestFor(config, context);
  if (pr === undefined) {
    throw new ActionFailure(
      `mode: revoke needs a key-handle or a pull request, and this ${context.eventName || 'run'} event has no pull request. ` +
        'For a run key pass `key-handle: ${{ needs.<job>.outputs.key-handle }}`; for a PR run it on ' +
        '`pull_request: types: [closed]` or set `pr-number`.',
    );
  }
  const { keys, deleted } = await deps.backend.revokePr(pr, config.dryRun);
  publish(io, deleted, config.dryRun);
  const title = config.dryRun ? 'that would be revoked (dry run)' : 'revoked';
  await writeSummary(io, `### Venice keys of PR #${pr} ${title}\n\n${keyTable(keys)}\n\n${spentLine(deleted)}\n`);
}

function spentLine(deleted: DeletedKeys): string {
  const unread = deleted.unread ? ` (${deleted.unread} key(s) could not be read; not counted)` : '';
  return `Spent by the deleted keys: ${spentText(deleted.spent)}${unread}.`;
}

/** revoke's outputs: what was deleted, and what it spent. */
function publish(io: ActionIO, deleted: DeletedKeys, dryRun: boolean): void {
  publishDeleted(io, deleted, dryRun);
  io.setOutput('spent-usd', String(deleted.spent.usd));
  io.setOutput('spent-diem', String(deleted.spent.diem));
}
