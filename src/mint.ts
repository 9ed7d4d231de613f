import { type ActionIO, STATE } from './action-io.js';
import { deleteInvocationKeys } from './delete-keys.js';
import { buildDescription, formatTag, type KeyTag, repoToken } from './description-tag.js';
import { ActionFailure, messageOf } from './errors.js';
import type { PrState, PullRequests } from './github-prs.js';
import type { Config } from './inputs.js';
import { pullRequestFor, rotateOlderPrKeys } from './pr-keys.js';
import type { RunContext } from './run-context.js';
import { mintSummary, writeSummary } from './summary.js';
import type { CreateKeyBody, MintedKey, VeniceClient } from './venice-client.js';

export interface MintDeps {
  io: ActionIO;
  client: VeniceClient;
  context: RunContext;
  /** Random per-invocation token for the tag. */
  token: string;
  now: () => number;
  isCancelled: () => boolean;
  /** GitHub, asked only for a PR mint: is the PR still open? */
  pullRequests: () => PullRequests;
}

/** The request body for POST /api_keys. Always an inference key; nothing else is ever sent. */
export function createKeyBody(config: Config, description: string, now: number): CreateKeyBody {
  return {
    apiKeyType: 'INFERENCE',
    description,
    expiresAt: new Date(now + config.expiresInMs).toISOString(),
    consumptionLimit: { usd: config.usdLimit, diem: config.diemLimit },
    limitPeriod: config.limitPeriod,
    ...(config.modelPrivacy ? { modelPrivacy: config.modelPrivacy } : {}),
  };
}

/**
 * Main step: mint one key, mask it, verify it, publish it. On success exactly one live key from this
 * invocation exists (the one in the outputs); on failure main deletes what it made, and the post step
 * can still find anything left by the tag saved in state before the create was sent.
 */
export async function mintKey(config: Config, deps: MintDeps): Promise<MintedKey | undefined> {
  const { io, client, context } = deps;
  const pr = pullRequestFor(config, context);
  if (pr !== undefined && !(await pullRequestIsOpen(pr, deps))) return undefined;
  const tag: KeyTag = {
    repo: repoToken(context.repository),
    pr,
    runId: context.runId,
    runAttempt: context.runAttempt,
    token: deps.token,
  };
  const { description, labelTruncated } = buildDescription(config.label, tag);
  if (labelTruncated) io.info(`The description was shortened to fit Venice's 64 characters.`);

  // Saved before the create is sent: if the job dies mid-request, post can still find the key by its tag.
  io.saveState(STATE.tag, formatTag(tag));
  const body = createKeyBody(config, description, deps.now());
  const key = await io.group('Create the inference key', async () => {
    io.info(`Creating an inference key "${description}", expiring at ${body.expiresAt}.`);
    const created = await client.createKey(body, async () => {
      await deleteInvocationKeys(tag, { io, client: client.forCleanup() }, 'its answer was lost');
    });
    io.setSecret(created.apiKey); // the moment it arrives, before anything else can print
    return created;
  });
  io.saveState(STATE.keyId, key.id);
  const { expiresAt } = key;
  io.saveState(STATE.expiresAt, expiresAt);

  try {
    if (deps.isCancelled()) throw new ActionFailure('the job was cancelled while the key was being created.');
    io.info(`Minted key ${key.id}; it expires at ${expiresAt}.`);
    // Verified before it is published, so a failed step never hands a dead key to later steps.
    if (config.verify) await io.group('Verify the new key', () => verify(key, deps));
    io.setOutput('api-key', key.apiKey);
    io.setOutput('key-id', key.id);
    io.setOutput('expires-at', expiresAt);
    io.setOutput('description', key.description);
    if (config.exportEnv) io.exportVariable(config.exportEnv, key.apiKey);
  } catch (error) {
    await deleteAfterFailure(key.id, deps);
    throw error;
  }

  const rotated = config.rotate ? await rotate(key.id, tag, deps) : [];
  await writeSummary(io, mintSummary({ keyId: key.id, description: key.description, expiresAt, verified: config.verify, rotated }, config));
  return key;
}

async function verify(key: MintedKey, deps: MintDeps): Promise<void> {
  if (!(await deps.client.verifyKey(key.apiKey))) {
    throw new ActionFailure(
      `the new key ${key.id} was created but Venice reports accessPermitted: false for it, so it cannot be used. ` +
        'Check the account balance and the limits (a limit of 0 allows no spending), or set verify: false.',
    );
  }
  deps.io.info(`Verified: Venice accepts key ${key.id}.`);
}

/**
 * A late run after a fast merge must not leave a key behind: a closed or merged PR gets none. When
 * GitHub cannot be asked, the key is minted anyway (it still expires, and sweep finds it later).
 */
async function pullRequestIsOpen(pr: number, deps: MintDeps): Promise<boolean> {
  let state: PrState;
  try {
    state = await deps.pullRequests().stateOf(pr);
  } catch (error) {
    deps.io.warning(`${messageOf(error)} Minting the key anyway; it expires as set, and mode: sweep removes keys of closed PRs.`);
    return true;
  }
  if (state === 'open') return true;
  deps.io.info(`PR #${pr} is ${state}: no key minted, so nothing is left behind for it.`);
  await writeSummary(
    deps.io,
    `### No Venice key minted

PR #${pr} is already ${state}.
`,
  );
  return false;
}

/** rotate: the new key is good, so this PR's older keys can go. Failing that is only a warning. */
async function rotate(newKeyId: string, tag: KeyTag, deps: MintDeps): Promise<string[]> {
  const { pr } = tag;
  if (pr === undefined) {
    deps.io.warning('rotate is true but this run has no pull request (set pr-number or run on a pull_request event); nothing rotated.');
    return [];
  }
  try {
    const deleted = await deps.io.group(`Rotate out older keys of PR #${pr}`, () => rotateOlderPrKeys(newKeyId, { ...tag, pr }, deps));
    deps.io.info(
      deleted.length === 0 ? `No older key of PR #${pr} to rotate out.` : `Rotated out ${deleted.length} older key(s) of PR #${pr}.`,
    );
    return deleted;
  } catch (error) {
    deps.io.warning(`could not delete the older keys of PR #${pr} (${messageOf(error)}); they expire as set.`);
    return [];
  }
}

/** A failed main leaves no key behind; if this delete fails too, the post step tries again. */
async function deleteAfterFailure(keyId: string, deps: MintDeps): Promise<void> {
  try {
    await deps.client.forCleanup().deleteKey(keyId);
    deps.io.saveState(STATE.keyId, '');
    deps.io.info(`Deleted key ${keyId} because the step failed.`);
  } catch (error) {
    deps.io.warning(`Could not delete key ${keyId} after the failure (${messageOf(error)}); the post step will try again.`);
  }
}
