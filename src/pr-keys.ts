import type { ActionIO } from './action-io.js';
import { deleteKeys } from './delete-keys.js';
import { isTagOfRepository, type KeyTag, parseTag } from './description-tag.js';
import { ActionFailure } from './errors.js';
import type { PrState, PullRequests } from './github-prs.js';
import type { Config } from './inputs.js';
import type { RunContext } from './run-context.js';
import { keyTable, writeSummary } from './summary.js';
import type { ListedKey, VeniceClient } from './venice-client.js';

/**
 * Keys that live as long as a pull request: revoke (a PR's keys), sweep (keys of closed PRs), and the
 * rotation after a PR mint. Keys are chosen by their tag alone: a key without this action's tag, or
 * tagged for another repository or PR, is never touched.
 */
export interface PrKeysDeps {
  io: ActionIO;
  client: VeniceClient;
  context: RunContext;
  pullRequests: () => PullRequests;
}

/** A key this action minted for a PR of this repository, with what its tag says. */
interface PrKey extends ListedKey {
  pr: number;
  runId: number;
  runAttempt: number;
}

function repositoryPrKeys(keys: ListedKey[], repository: string): PrKey[] {
  return keys.flatMap((key) => {
    const tag = parseTag(key.description);
    if (tag?.pr === undefined || !isTagOfRepository(tag, repository)) return [];
    return [{ ...key, pr: tag.pr, runId: Number(tag.runId), runAttempt: Number(tag.runAttempt) }];
  });
}

/** The PR to act for: the pr-number input, else the event's. */
export function pullRequestFor(config: Config, context: RunContext): number | undefined {
  return config.prNumber ?? context.prNumber;
}

export async function revokePrKeys(config: Config, deps: PrKeysDeps): Promise<void> {
  const pr = pullRequestFor(config, deps.context);
  if (pr === undefined) {
    throw new ActionFailure(
      `mode: revoke needs a pull request, and this ${deps.context.eventName || 'run'} event has none. ` +
        'Run it on `pull_request: types: [closed]`, or set pr-number, e.g. `pr-number: ${{ github.event.pull_request.number }}`.',
    );
  }
  const keys = repositoryPrKeys(await deps.client.listKeys(), deps.context.repository).filter((key) => key.pr === pr);
  deps.io.info(`${keys.length} key(s) of ${deps.context.repository} PR #${pr} found.`);
  const deleted = await deps.io.group(`Delete the keys of PR #${pr}`, () => deleteKeys(keys, deps, { dryRun: config.dryRun }));
  publish(deps.io, deleted, config.dryRun);
  await writeSummary(
    deps.io,
    `### Venice keys of PR #${pr} ${config.dryRun ? 'that would be revoked (dry run)' : 'revoked'}\n\n${keyTable(keys)}\n`,
  );
}

export async function sweepClosedPrKeys(config: Config, deps: PrKeysDeps): Promise<void> {
  const keys = repositoryPrKeys(await deps.client.listKeys(), deps.context.repository);
  // Every PR's state is known before anything is deleted: if GitHub cannot be asked, nothing is.
  const states = new Map<number, PrState>();
  await deps.io.group('Ask GitHub which pull requests are open', async () => {
    for (const pr of new Set(keys.map((key) => key.pr))) {
      states.set(pr, await deps.pullRequests().stateOf(pr));
      deps.io.info(`PR #${pr}: ${states.get(pr)}`);
    }
  });
  const stateOf = (key: PrKey): PrState => states.get(key.pr) ?? 'open';
  const closed = keys.filter((key) => stateOf(key) !== 'open');
  const kept = keys.filter((key) => stateOf(key) === 'open');
  deps.io.info(`${keys.length} PR key(s) of ${deps.context.repository}: ${closed.length} of closed PRs, ${kept.length} of open PRs.`);

  const deleted = await deps.io.group('Delete the keys of closed pull requests', () => deleteKeys(closed, deps, { dryRun: config.dryRun }));
  publish(deps.io, deleted, config.dryRun);
  deps.io.setOutput('kept-count', String(kept.length));
  const verb = config.dryRun ? 'Would delete (dry run)' : 'Deleted';
  await writeSummary(
    deps.io,
    `### Venice PR keys swept\n\n#### ${verb}: keys of closed PRs\n\n${keyTable(closed, stateOf)}\n\n` +
      `#### Kept: keys of open PRs\n\n${keyTable(kept, stateOf)}\n`,
  );
}

/** After a PR mint: delete this repository's keys for the same PR minted before the new one. */
export async function rotateOlderPrKeys(
  newKeyId: string,
  tag: KeyTag & { pr: number },
  deps: Omit<PrKeysDeps, 'pullRequests'>,
): Promise<string[]> {
  const keys = repositoryPrKeys(await deps.client.listKeys(), deps.context.repository).filter((key) => key.pr === tag.pr);
  const newKey = keys.find((key) => key.id === newKeyId);
  // Only older keys: a run for a later push may already have minted a newer one, which must stay.
  const older = keys.filter((key) => key.id !== newKeyId && isOlder(key, newKey, tag));
  return deleteKeys(older, deps);
}

/** By creation time when Venice gives it for both keys, else by run id and attempt from the tags. */
function isOlder(key: PrKey, newKey: PrKey | undefined, newTag: KeyTag): boolean {
  if (key.createdAt && newKey?.createdAt) return Date.parse(key.createdAt) < Date.parse(newKey.createdAt);
  const newRun = Number(newTag.runId);
  return key.runId < newRun || (key.runId === newRun && key.runAttempt < Number(newTag.runAttempt));
}

function publish(io: ActionIO, deleted: string[], dryRun: boolean): void {
  io.setOutput('deleted-count', String(deleted.length));
  io.setOutput('deleted-ids', deleted.join(','));
  if (dryRun) io.info('Dry run: nothing was deleted.');
}
