/**
 * mode revoke: delete a run's key (with key-handle: exactly that key, in the run's last job) or a pull
 * request's keys (without: every key of the PR, preview keys of all slots and any job or run keys still
 * alive for it). Each key is read before it is deleted, for its spend and to confirm it is still ours.
 */

import { type DeletedKeys, deleteKeys, deleteTaggedKey, listedFacts, type OwnedKey, ownedKeys, spentText } from '../../core/delete-keys.js';
import { ActionFailure } from '../../core/errors.js';
import { openRunKey } from '../../core/key-handle.js';
import { endsWithPullRequest } from '../../core/ownership.js';
import { quoted } from '../../core/safe-text.js';
import type { VeniceClient } from '../../core/venice-client.js';
import type { BrokerClient } from '../broker-path/broker-client.js';
import type { ActionIO } from '../runner/action-io.js';
import type { Config } from '../runner/inputs.js';
import { pullRequestFor, type RunContext } from '../runner/run-context.js';
import { keyTable, writeSummary } from '../runner/summary.js';
import { publishDeleted, reportBrokerDeletions } from './outputs.js';

export interface RevokeDeps {
  io: ActionIO;
  client: VeniceClient;
  context: RunContext;
  /** With a broker, the handle is opened and the key deleted through it. */
  broker?: BrokerClient | undefined;
}

export async function revoke(config: Config, deps: RevokeDeps): Promise<void> {
  if (config.keyHandle) return revokeRunKey(config, deps);
  return revokePrKeys(config, deps);
}

async function revokeRunKey(config: Config, deps: RevokeDeps): Promise<void> {
  const { io, context, broker } = deps;
  const key = broker
    ? await broker.unwrap(config.keyHandle)
    : openRunKey(config.keyHandle, { adminKey: config.adminKey, repository: context.repository, runId: context.runId }, io.setSecret);
  const result = await io.group("Delete the run's key", () =>
    broker ? broker.deleteKey(key.keyId) : deleteTaggedKey({ id: key.keyId, tag: key.tag }, { ...deps, repository: context.repository }),
  );
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
  const { keys, deleted } = deps.broker ? await revokeThroughBroker(pr, config, deps.broker, io) : await revokeDirect(pr, config, deps);
  publish(io, deleted, config.dryRun);
  const title = config.dryRun ? 'that would be revoked (dry run)' : 'revoked';
  await writeSummary(io, `### Venice keys of PR #${pr} ${title}\n\n${keyTable(keys)}\n\n${spentLine(deleted)}\n`);
}

/** The broker finds the PR's keys of this repository and deletes them (its rule must allow revoke). */
function revokeThroughBroker(
  pr: number,
  config: Config,
  broker: BrokerClient,
  io: ActionIO,
): Promise<{ keys: OwnedKey[]; deleted: DeletedKeys }> {
  return io.group(`Delete the keys of PR #${pr} through the broker`, async () => {
    const result = await broker.revokePr(pr, config.dryRun);
    reportBrokerDeletions(io, result.keys, result.deleted.ids, config.dryRun);
    return result;
  });
}

async function revokeDirect(pr: number, config: Config, deps: RevokeDeps): Promise<{ keys: OwnedKey[]; deleted: DeletedKeys }> {
  const { io, context } = deps;
  const keys = ownedKeys(await deps.client.listKeys(), context.repository).filter((key) =>
    endsWithPullRequest(listedFacts(key), { number: pr }),
  );
  io.info(`${keys.length} key(s) of ${context.repository} PR #${pr} found.`);
  const deleted = await io.group(`Delete the keys of PR #${pr}`, () =>
    deleteKeys(keys, { ...deps, repository: context.repository }, { dryRun: config.dryRun, readFirst: true }),
  );
  return { keys, deleted };
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
