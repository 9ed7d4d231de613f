/**
 * Main step, mode mint, through the key broker: no admin key in the job. This module (with the broker
 * client and the OIDC request) is the broker path's own chunk, loaded by steps.ts only with broker-url. The broker builds the tag from
 * the job's OIDC token and applies its policy; the action sends its validated key inputs, masks the key
 * the moment it arrives, verifies it with the key itself, and publishes the same outputs as a direct
 * mint. A preview key is minted only for an open PR, as GitHub says. What the policy lowered is said
 * in the log and the summary. A failed step deletes its key
 * through the broker; a job key is deleted by the post step through the broker too.
 */

import type { Deadline } from '../../core/deadline.js';
import { formatTag } from '../../core/description-tag.js';
import { ActionFailure, messageOf } from '../../core/errors.js';
import type { HttpTransport } from '../../core/http.js';
import { keyRequestFields, readKeyRequest } from '../../core/key-request.js';
import type { RetryPolicy } from '../../core/retry.js';
import { quoted, safeText } from '../../core/safe-text.js';
import type { VeniceClient } from '../../core/venice-client.js';
import type { GitHubApi } from '../github/github-api.js';
import { publishKey, verifyNewKey } from '../modes/outputs.js';
import { pullRequestIsOpen } from '../modes/pull-requests.js';
import { type ActionIO, STATE } from '../runner/action-io.js';
import type { Config } from '../runner/inputs.js';
import { pullRequestFor, type RunContext } from '../runner/run-context.js';
import { mintSummary, writeSummary } from '../runner/summary.js';
import { BrokerClient, type BrokerMinted } from './broker-client.js';
import { requestIdToken } from './id-token.js';

export interface BrokerMintDeps {
  io: ActionIO;
  broker: BrokerClient;
  /** Venice, for verify only: it is called with the new key, never an admin key. */
  client: VeniceClient;
  context: RunContext;
  now: () => number;
  isCancelled: () => boolean;
  /** GitHub, asked only for a preview key: is the PR still open? */
  gitHub: () => GitHubApi;
}

/** A broker client for this step: each request carries a fresh OIDC token from the runner. */
export function connectBroker(options: {
  brokerUrl: string;
  audience: string;
  env: Record<string, string | undefined>;
  transport: HttpTransport;
  deadline: Deadline;
  policy: RetryPolicy;
  io: ActionIO;
  context: RunContext;
  signal: AbortSignal;
}): BrokerClient {
  const { io, transport, deadline, signal } = options;
  return new BrokerClient({
    brokerUrl: options.brokerUrl,
    transport,
    deadline,
    policy: options.policy,
    log: io.info,
    mask: io.setSecret,
    repository: options.context.repository,
    runId: options.context.runId,
    signal,
    idToken: () =>
      requestIdToken({
        env: options.env,
        audience: options.audience,
        transport,
        timeoutMs: Math.max(1_000, Math.min(30_000, deadline.remainingMs())),
        signal,
        mask: io.setSecret,
      }),
  });
}

export async function mintThroughBroker(config: Config, deps: BrokerMintDeps): Promise<void> {
  const { io, broker, context } = deps;
  const pr = config.scope === 'pr' ? pullRequestFor(config, context) : undefined;
  // The same check as a direct mint: a closed or merged PR gets no preview key.
  if (pr !== undefined && !(await pullRequestIsOpen(pr, deps))) return;
  const fields = keyRequestFields({
    ...config,
    prNumber: pr,
    slot: config.scope === 'pr' ? config.slot || context.job || 'default' : '',
  });
  const mintedAt = deps.now();
  const key = await io.group('Create the inference key through the broker', async () => {
    io.info(`Asking the broker at ${config.brokerUrl} for a ${config.scope} key.`);
    return broker.mint(fields, { rotate: config.rotate });
  });
  io.saveState(STATE.tag, formatTag(key.tag));
  io.saveState(STATE.keyId, key.id);
  io.saveState(STATE.expiresAt, key.expiresAt);
  try {
    if (deps.isCancelled()) throw new ActionFailure('the job was cancelled while the key was being created.');
    io.info(`Minted key ${key.id} ${quoted(key.description)} under the broker's rule ${quoted(key.rule)}; it expires at ${key.expiresAt}.`);
    for (const lowered of key.clamped) io.warning(`the broker's policy lowered the request: ${safeText(lowered)}`);
    if (config.verify) await io.group('Verify the new key', () => verifyNewKey(key, deps));
    publishKey(io, key, config.exportEnv);
    if (key.handle) io.setOutput('key-handle', key.handle);
    if (key.tag.scope !== 'job') io.saveState(STATE.deleteInPost, 'false');
  } catch (error) {
    await deleteAfterFailure(key.id, deps);
    throw error;
  }
  const where = `PR #${key.tag.pr} slot ${key.tag.slot}`;
  if (config.rotate && key.rotated === undefined) io.warning(`the broker could not delete the older keys of ${where}; they expire as set.`);
  else if (config.rotate) {
    io.info(
      key.rotated?.length
        ? `Rotated out ${key.rotated.length} older key(s) of ${where} through the broker.`
        : `No older key of ${where} to rotate out.`,
    );
  }
  await writeSummary(
    io,
    mintSummary(
      {
        keyId: key.id,
        description: key.description,
        expiresAt: key.expiresAt,
        verified: config.verify,
        rotated: key.rotated ?? [],
        mintedAt,
        broker: { rule: key.rule, clamped: key.clamped },
      },
      { ...config, ...grantedOf(key, config) },
    ),
  );
}

/** The caps the broker granted, read back with the inputs' own rules; the request's when it did not say. */
function grantedOf(key: BrokerMinted, config: Config): Partial<Config> {
  try {
    return readKeyRequest((name) => key.granted[name] ?? keyRequestFields(config)[name]);
  } catch {
    return {};
  }
}

async function deleteAfterFailure(keyId: string, deps: BrokerMintDeps): Promise<void> {
  try {
    await deps.broker.deleteKey(keyId);
    deps.io.saveState(STATE.keyId, '');
    deps.io.saveState(STATE.tag, '');
    deps.io.info(`Deleted key ${keyId} through the broker because the step failed.`);
  } catch (error) {
    deps.io.warning(`Could not delete key ${keyId} after the failure (${messageOf(error)}); the post step will try again.`);
  }
}
