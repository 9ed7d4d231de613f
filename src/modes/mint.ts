/**
 * Main step, mode mint: mint one key for its owner (this job, this run, or a PR's preview slot), mask
 * it, verify it, publish it, directly or through the broker alike (the backend makes it). On success
 * exactly one live key from this invocation exists (the one in the outputs); on failure main deletes
 * what it made, and the post step can still find anything left (by the tag saved in state, or, through
 * the broker, by the broker's own journal).
 */

import { formatTag } from '../../core/description-tag.js';
import { ActionFailure, messageOf } from '../../core/errors.js';
import { quoted, safeText } from '../../core/safe-text.js';
import type { VeniceClient } from '../../core/venice-client.js';
import type { KeyBackend, Minted, MintOrder } from '../backends/key-backend.js';
import type { GitHubApi } from '../github/github-api.js';
import { type ActionIO, STATE } from '../runner/action-io.js';
import type { Config } from '../runner/inputs.js';
import { pullRequestFor, type RunContext } from '../runner/run-context.js';
import { mintSummary, writeSummary } from '../runner/summary.js';
import { publishKey, verifyNewKey } from './outputs.js';
import { pullRequestIsOpen } from './pull-requests.js';

export interface MintDeps {
  io: ActionIO;
  backend: KeyBackend;
  /** Venice, for verify only: it is called with the new key itself. */
  client: VeniceClient;
  context: RunContext;
  now: () => number;
  isCancelled: () => boolean;
  /** GitHub, asked only for a preview key: is the PR still open? */
  gitHub: () => GitHubApi;
}

export async function mintKey(config: Config, deps: MintDeps): Promise<Minted | undefined> {
  const { io, backend, context } = deps;
  const pr = pullRequestFor(config, context);
  // A closed or merged PR gets no preview key.
  if (config.scope === 'pr' && !(await pullRequestIsOpen(pr as number, deps))) return undefined;
  const order: MintOrder = { config, pr, slot: config.slot || context.job };
  const mintedAt = deps.now();
  const key = await io.group(`Create the inference key${backend.via}`, () => backend.mint(order));
  io.saveState(STATE.tag, formatTag(key.tag));
  io.saveState(STATE.keyId, key.id);
  io.saveState(STATE.expiresAt, key.expiresAt);
  try {
    if (deps.isCancelled()) throw new ActionFailure('the job was cancelled while the key was being created.');
    const rule = key.broker ? ` under the broker's rule ${quoted(key.broker.rule)}` : '';
    io.info(`Minted key ${key.id} ${quoted(key.description)}${rule}; it expires at ${key.expiresAt}.`);
    for (const note of key.notes) io.info(note);
    for (const lowered of key.broker?.clamped ?? []) io.warning(`the broker's policy lowered the request: ${safeText(lowered)}`);
    // Verified before it is published, so a failed step never hands a dead key to later steps.
    if (config.verify) await io.group('Verify the new key', () => verifyNewKey(key, deps));
    publishKey(io, key, config.exportEnv);
    if (key.handle) io.setOutput('key-handle', key.handle);
    // Only a job key (not kept with skip-delete) is deleted by this job's post step.
    if (key.tag.scope !== 'job') io.saveState(STATE.deleteInPost, 'false');
  } catch (error) {
    await deleteAfterFailure(key, deps);
    throw error;
  }
  const rotated = config.rotate ? await rotate(key, order, deps) : [];
  const summary = { keyId: key.id, description: key.description, expiresAt: key.expiresAt, verified: config.verify, rotated, mintedAt };
  await writeSummary(io, mintSummary({ ...summary, broker: key.broker }, { ...config, ...key.granted }));
  return key;
}

/**
 * rotate: the new preview key is good, so the older preview keys of the same PR and slot can go. Job
 * and run keys of the PR, and other slots' keys, are never touched. Failing is only a warning.
 */
async function rotate(key: Minted, order: MintOrder, deps: MintDeps): Promise<string[]> {
  const { io, backend } = deps;
  const where = `PR #${key.tag.pr} slot ${key.tag.slot}`;
  try {
    return await io.group(`Rotate out older keys of ${where}`, async () => {
      const deleted = await backend.rotateOlder(key, order);
      const done = `Rotated out ${deleted.length} older key(s) of ${where}${backend.via}.`;
      io.info(deleted.length === 0 ? `No older key of ${where} to rotate out.` : done);
      return deleted;
    });
  } catch (error) {
    io.warning(`could not delete the older keys of ${where}${backend.via} (${messageOf(error)}); they expire as set.`);
    return [];
  }
}

/**
 * A failed main leaves no key behind; if this delete fails too, the post step tries again. Post has
 * nothing left to do unless an earlier create attempt went unanswered (its key could still appear).
 */
async function deleteAfterFailure(key: Minted, deps: MintDeps): Promise<void> {
  const { io, backend } = deps;
  try {
    const { postMustWatch } = await backend.discard(key);
    io.saveState(STATE.keyId, '');
    if (!postMustWatch) io.saveState(STATE.tag, '');
    io.info(`Deleted key ${key.id}${backend.via} because the step failed.`);
  } catch (error) {
    io.warning(`Could not delete key ${key.id} after the failure (${messageOf(error)}); the post step will try again.`);
  }
}
