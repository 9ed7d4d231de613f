/**
 * Main step, mode mint: mint one key for its owner (this job, this run, or a PR's preview slot), mask
 * it, verify it, publish it. On success exactly one live key from this invocation exists (the one in
 * the outputs); on failure main deletes what it made, and the post step can still find anything left by
 * the tag saved in state before the create was sent.
 */

import { deleteInvocationKeys, deleteKeys, listedFacts, ownedKeys } from '../../core/delete-keys.js';
import { buildDescription, formatTag, type KeyTag, tagForRequest } from '../../core/description-tag.js';
import { ActionFailure, messageOf } from '../../core/errors.js';
import { sealHandle } from '../../core/key-handle.js';
import { factsOfTag, isOlderInSlot } from '../../core/ownership.js';
import { quoted } from '../../core/safe-text.js';
import { createKeyBody, type MintedKey, type VeniceClient } from '../../core/venice-client.js';
import type { GitHubApi } from '../github/github-api.js';
import { type ActionIO, STATE } from '../runner/action-io.js';
import type { Config } from '../runner/inputs.js';
import { pullRequestFor, type RunContext } from '../runner/run-context.js';
import { mintSummary, writeSummary } from '../runner/summary.js';
import { publishKey, verifyNewKey } from './outputs.js';
import { pullRequestIsOpen } from './pull-requests.js';

export interface MintDeps {
  io: ActionIO;
  client: VeniceClient;
  context: RunContext;
  /** Random per-invocation token for the tag. */
  token: string;
  now: () => number;
  isCancelled: () => boolean;
  /** GitHub, asked only for a preview key: is the PR still open? */
  gitHub: () => GitHubApi;
}

/** Whether this job's post step deletes the key once main succeeded (a job key without skip-delete). */
function deletedByPost(config: Config): boolean {
  return config.scope === 'job' && !config.skipDelete;
}

export async function mintKey(config: Config, deps: MintDeps): Promise<MintedKey | undefined> {
  const { io, client, context } = deps;
  const pr = pullRequestFor(config, context);
  if (config.scope === 'pr' && !(await pullRequestIsOpen(pr as number, deps))) return undefined;
  const tag = tagForRequest(
    context.repository,
    { ...config, slot: config.slot || context.job },
    { pr, runId: context.runId, runAttempt: context.runAttempt, token: deps.token },
  );
  const { description, labelTruncated } = buildDescription(config.label, tag);

  // Saved before the create is sent: if the job dies mid-request, post can still find the key by its tag.
  io.saveState(STATE.tag, formatTag(tag));
  let createMayLandLate = true;
  io.saveState(STATE.createPendingUntil, String(deps.now() + config.timeoutMs));
  const body = createKeyBody(config, description, deps.now());
  const key = await io.group('Create the inference key', async () => {
    // Nothing the user or Venice wrote is printed until the new key is masked.
    io.info(`Creating a ${scopeText(config)} inference key, expiring at ${body.expiresAt}.`);
    const created = await client.createKey(body, {
      recover: async () => {
        await deleteInvocationKeys(
          tag,
          { io, client: client.forCleanup(), repository: context.repository },
          { why: 'its answer was lost' },
        );
      },
      // Every attempt was answered: no key can land later, so post need not watch for one.
      nothingCanLand: () => {
        io.saveState(STATE.createPendingUntil, '');
        createMayLandLate = false;
      },
      // The create failed and made nothing that is left (refused, or its key deleted): post has nothing to do.
      nothingLeft: () => {
        io.saveState(STATE.tag, '');
        io.saveState(STATE.createPendingUntil, '');
      },
    });
    io.setSecret(created.apiKey); // the moment it arrives, before anything else can print
    return created;
  });
  io.saveState(STATE.keyId, key.id);
  const { expiresAt } = key;
  io.saveState(STATE.expiresAt, expiresAt);

  let handle: string | undefined;
  try {
    if (deps.isCancelled()) throw new ActionFailure('the job was cancelled while the key was being created.');
    io.info(`Minted key ${key.id} ${quoted(key.description)}; it expires at ${expiresAt}.`);
    if (labelTruncated) io.info("The label was shortened to fit Venice's 64 characters with the action's tag.");
    // Verified before it is published, so a failed step never hands a dead key to later steps.
    if (config.verify) await io.group('Verify the new key', () => verifyNewKey(key, deps));
    publishKey(io, key, config.exportEnv);
    if (config.scope === 'run') {
      handle = sealHandle(
        { apiKey: key.apiKey, keyId: key.id, expiresAt, description: key.description },
        { adminKey: config.adminKey, repository: context.repository, runId: context.runId },
      );
      io.setOutput('key-handle', handle);
    }
    if (!deletedByPost(config)) io.saveState(STATE.deleteInPost, 'false');
  } catch (error) {
    await deleteAfterFailure(key.id, deps, { postMustWatch: createMayLandLate });
    throw error;
  }

  const rotated = config.rotate ? await rotate(key.id, tag, deps) : [];
  await writeSummary(
    io,
    mintSummary({ keyId: key.id, description: key.description, expiresAt, verified: config.verify, rotated, mintedAt: deps.now() }, config),
  );
  return key;
}

function scopeText(config: Config): string {
  if (config.scope === 'run') return 'run (shared by this run\u2019s jobs)';
  if (config.scope === 'pr') return 'preview (PR)';
  return config.skipDelete ? 'job (kept after the job: skip-delete)' : 'job';
}

/**
 * rotate: the new preview key is good, so the older preview keys of the same PR and slot can go. Job
 * and run keys of the PR, and other slots' keys, are never touched. Failing is only a warning.
 */
async function rotate(newKeyId: string, tag: KeyTag, deps: MintDeps): Promise<string[]> {
  const where = `PR #${tag.pr} slot ${tag.slot}`;
  try {
    const deleted = await deps.io.group(`Rotate out older keys of ${where}`, async () => {
      const keys = ownedKeys(await deps.client.listKeys(), deps.context.repository);
      const listed = keys.find((key) => key.id === newKeyId);
      const newest = listed ? listedFacts(listed) : factsOfTag(tag);
      // Only older keys: a run for a later push may already have minted a newer one, which must stay.
      const older = keys.filter((key) => key.id !== newKeyId && isOlderInSlot(listedFacts(key), newest));
      return (await deleteKeys(older, { ...deps, repository: deps.context.repository }, { why: 'rotated out' })).ids;
    });
    deps.io.info(
      deleted.length === 0 ? `No older key of ${where} to rotate out.` : `Rotated out ${deleted.length} older key(s) of ${where}.`,
    );
    return deleted;
  } catch (error) {
    deps.io.warning(`could not delete the older keys of ${where} (${messageOf(error)}); they expire as set.`);
    return [];
  }
}

/**
 * A failed main leaves no key behind; if this delete fails too, the post step tries again. Post has
 * nothing left to do unless an earlier create attempt went unanswered (its key could still appear).
 */
async function deleteAfterFailure(keyId: string, deps: MintDeps, { postMustWatch }: { postMustWatch: boolean }): Promise<void> {
  try {
    await deps.client.forCleanup().deleteKey(keyId);
    deps.io.saveState(STATE.keyId, '');
    if (!postMustWatch) deps.io.saveState(STATE.tag, '');
    deps.io.info(`Deleted key ${keyId} because the step failed.`);
  } catch (error) {
    deps.io.warning(`Could not delete key ${keyId} after the failure (${messageOf(error)}); the post step will try again.`);
  }
}
